# split.gp — He et al. 2016, Eq. 5 per block: the part of ∂L/∂x that came
# through the shortcut (identity) and through the residual branch (log y,
# left axis), and the identity share ‖id‖/(‖id‖+‖branch‖) (right axis).
# One step: one colour per quantity; several steps: one colour per step,
# the quantity in the dash type (solid identity, dashed branch, dotted share).
# Data: index IDX[k] holds (block, ‖identity‖, ‖branch‖, share, name).
# Variables: TITLE, N, IDX[k], LABEL[k], NB, PLAIN; xtics: block names.
set title TITLE noenhanced
set xlabel 'residual block (forward order)'
set ylabel 'norm of the part of ∂L/∂x  (loss/act.)'
set y2label 'identity share  ‖id‖ / (‖id‖ + ‖branch‖)'
set logscale y
set format y '10^{%L}'
set ytics nomirror
set y2tics 0,0.2,1 nomirror
set border 11
set xrange [-0.4:NB-0.6]
# the top of the graph is left free for the key: a fraction FREE of it
# (YLO, YHI: the range of the norms)
FREE = (N == 1 ? 0.28 : 0.42)
SPAN = log10(YHI / YLO) < 1 ? 1 : log10(YHI / YLO)
BOTTOM_Y = YLO / 10**(0.1 * SPAN)
set yrange [BOTTOM_Y : BOTTOM_Y * 10**(1.1 * SPAN / (1 - FREE))]
set y2range [0 : 1.0 / (1 - FREE)]
set key inside top center horizontal maxcols 2 width -2 samplen 2 nobox noopaque
Q(k, q) = (N == 1 ? q : k)      # style: by quantity for one step, else by step
T(k, text) = (N == 1 ? text : '')
array QNAME[3] = ['‖identity part‖', '‖branch part‖', 'share (right axis)']
# several steps: the key shows the quantities in grey, then one entry per step
plot for [k=1:(PLAIN ? 0 : N)] datafile index IDX[k] using 1:2 with linespoints \
         lt Q(k, 3) dt 1 title T(k, '‖identity part‖'), \
     for [k=1:N] datafile index IDX[k] using 1:3 with linespoints \
         lt Q(k, 2) dt 2 title T(k, '‖branch part‖'), \
     for [k=1:(PLAIN ? 0 : N)] datafile index IDX[k] using 1:4 axes x1y2 with linespoints \
         lt Q(k, 1) dt 3 lw 2 pt OPEN_PT[(Q(k, 1)-1)%8+1] title T(k, 'identity share (right axis)'), \
     for [q=1:(N == 1 ? 0 : 3)] NaN with lines lc rgb '#555555' dt q \
         title QNAME[q], \
     for [k=1:(N == 1 ? 0 : N)] NaN with points lt k title LABEL[k]
