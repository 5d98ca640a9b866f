# curves.gp — training curves in He et al. 2015's Fig. 6 layout: plain nets
# left, residual nets right, one colour (and point type) per depth; solid:
# training error, dashed: test error. Data: index TRAIN(i) = 2(i-1) holds
# (step, training error %), index 2(i-1)+1 holds (step, test error %).
# Variables: TITLE, NOTE, NP, PANEL_TITLE[p], FIRST[p], LAST[p], N,
# LABEL[i], LT[i], PI[i] (point interval), XMAX, YMAX.
set multiplot layout 1,NP title TITLE noenhanced font F_TITLE \
    margins 0.075,0.985,0.2,0.79 spacing 0.09,0
set xlabel 'iteration (optimiser steps)'
set ylabel 'error (%)'
set xrange [0:XMAX]
set yrange [0:YMAX]
set key bottom left
set label 1 NOTE at screen 0.5,0.035 center noenhanced font F_NOTE
do for [p=1:NP] {
    set title PANEL_TITLE[p] font F_PANEL
    plot for [i=FIRST[p]:LAST[p]] datafile index 2*(i-1) using 1:2 \
             with linespoints lt LT[i] dt 1 pi PI[i] title LABEL[i], \
         for [i=FIRST[p]:LAST[p]] datafile index 2*(i-1)+1 using 1:2 \
             with linespoints lt LT[i] dt 2 lw 1.3 notitle, \
         NaN with lines lc rgb '#555555' dt 1 title 'train', \
         NaN with lines lc rgb '#555555' dt 2 title 'test'
    unset label 1
}
unset multiplot
