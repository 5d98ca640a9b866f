# updates.gp — the update/weight ratio ‖ΔW‖/‖W‖ of each parameter tensor
# over training (log y). Up to 10 tensors get a legend entry each; more are
# coloured by their position in the network (colour bar).
# Data: index IDX[i] holds (step, ratio) of tensor i.
# Variables: TITLE, WHICH (which tensors), N, IDX[i], LABEL[i], MANY, PI.
set title TITLE noenhanced
set xlabel 'iteration (optimiser steps)'
set ylabel '‖ΔW‖ / ‖W‖ per step'
set logscale y
set format y '10^{%L}'
set bmargin 5.5
set label 1 'tensors: '.WHICH at screen 0.5,0.03 center noenhanced font F_NOTE
if (MANY) {
    set cbrange [1:N]
    set cblabel 'weight tensor (network order)'
    set colorbox
    unset key
    set rmargin 7
    # viridis without its lightest yellow, which fades on white as a thin line
    set palette defined (0 '#440154', 1 '#472c7a', 2 '#3b518b', 3 '#2c718e', 4 '#21908d', \
                         5 '#27ad81', 6 '#5cc863', 7 '#a0d33a')
    set cblabel offset -0.5,0
    plot for [i=1:N] datafile index IDX[i] using 1:2 with lines lw 1.2 lc palette cb i notitle
} else {
    set key outside right top
    plot for [i=1:N] datafile index IDX[i] using 1:2 with linespoints \
             lt i dt DT[(i-1)%8+1] pi PI title LABEL[i]
}
