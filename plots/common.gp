# common.gp — the look every gradflow figure shares; gradflow plot copies it
# into each filled script after the figure's variables. Edit here to restyle
# every figure.
#
# Series styles 1-8: colour (Okabe-Ito, colour-blind safe), point type and
# dash type all change together, so series stay apart in greyscale prints.
set datafile missing NaN
set border 3 back lw 1 lc rgb '#303030'
set tics nomirror out scale 0.6
set grid back lw 1 lc rgb '#e4e4e4' dt 1
set key noenhanced spacing 1.15 samplen 2.6 opaque box lc rgb '#c0c0c0' width 1
# font sizes relative to FS (set before this file)
F_TITLE = sprintf(',%g', FS * 1.1)
F_PANEL = sprintf(',%g', FS)
F_NOTE = sprintf(',%g', FS * 0.8)
set title offset 0,-0.3 font F_TITLE
set mxtics default
set linetype 1 lc rgb '#000000' lw 1.6 pt 7  ps 0.85 dt 1
set linetype 2 lc rgb '#D55E00' lw 1.6 pt 5  ps 0.8  dt 1
set linetype 3 lc rgb '#0072B2' lw 1.6 pt 9  ps 0.95 dt 1
set linetype 4 lc rgb '#009E73' lw 1.6 pt 13 ps 0.95 dt 1
set linetype 5 lc rgb '#CC79A7' lw 1.6 pt 11 ps 0.95 dt 1
set linetype 6 lc rgb '#E69F00' lw 1.6 pt 6  ps 0.85 dt 1
set linetype 7 lc rgb '#56B4E9' lw 1.6 pt 4  ps 0.8  dt 1
set linetype 8 lc rgb '#7f7f7f' lw 1.6 pt 8  ps 0.95 dt 1
set linetype cycle 8
# dash types of series 1-8 (long dashes with short gaps for the second, so a
# jagged line still reads as one line)
array DT[8] = [1, "__ ", 4, 5, 3, 1, "__ ", 4]
# Sequential palette for maps (viridis): lightness rises monotonically, so
# the map reads the same in greyscale.
set palette defined (0 '#440154', 1 '#472c7a', 2 '#3b518b', 3 '#2c718e', 4 '#21908d', \
                     5 '#27ad81', 6 '#5cc863', 7 '#aadc32', 8 '#fde725')
set format y2 '%g'
# open counterparts of the filled point types of styles 1-8
array OPEN_PT[8] = [6, 4, 8, 12, 10, 6, 4, 8]
