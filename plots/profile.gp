# profile.gp — the gradient-flow picture: ‖∂L/∂(layer output)‖ per layer in
# forward order (log y), one line per run or per step. Data: index IDX[i]
# holds (layer index, gradient norm, layer name).
# Variables: TITLE, N, LABEL[i], IDX[i], PI (point interval); xtics at stages.
set title TITLE noenhanced
set xlabel 'weighted layer (conv, linear; forward order)'
set ylabel '‖∂L/∂(layer output)‖_2  (loss/act.)'
set logscale y
set format y '10^{%L}'
set xrange [0.5:*]
set key top center horizontal
set offsets 0, 0, graph 0.2, 0   # headroom for the key
plot for [i=1:N] datafile index IDX[i] using 1:2 with linespoints \
         lt i dt DT[(i-1)%8+1] pi PI title LABEL[i]
