# heatmap.gp — log10 ‖∂L/∂(layer output)‖ over layer (y, input at the
# bottom) and step (x). Data: index 0 holds (step, layer index, log10 norm),
# one scan per step. Variables: TITLE, NL (layers), XMIN, XMAX, DX (step
# spacing); ytics at the first layer of each stage.
set title TITLE noenhanced
set xlabel 'iteration (optimiser steps)'
set ylabel 'weighted layer (forward order)'
set cblabel 'log_{10} ‖∂L/∂(layer output)‖_2  (loss/act.)'
set xrange [XMIN-DX/2.0:XMAX+DX/2.0]
set yrange [0.5:NL+0.5]
set border 15
set xtics out mirror
set ytics out mirror
unset key
unset grid
set colorbox user origin graph 1.03,0 size graph 0.035,1
set rmargin 12
plot datafile index 0 using 1:2:3 with image notitle
