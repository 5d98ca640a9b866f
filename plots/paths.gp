# paths.gp — Veit et al. 2016, Fig. 6 from `gradflow paths -o`: (a) number
# of paths through k residual branches, (b) gradient magnitude per path,
# (c) total gradient magnitude per path length, one line per file.
# Data: index IDX[i] holds (k, C(L,k), log10 C(L,k), ‖G_k‖, ‖G_k‖/C(L,k),
# share of ∂L/∂x). Variables: TITLE, N, IDX[i], LABEL[i], COUNT_MODE (0
# linear, 1 log axis, 2 log10 of the count), LOG_PER, LOG_TOTAL (0: (c) is
# linear, as in Veit et al.; 1 when the files' peaks differ tenfold: a log
# axis from TOTAL_MIN), PI (point interval).
BOTTOM = (N > 1 ? 0.17 + 0.06 * N : 0.16)   # the key stacks one file per row
set multiplot layout 1,3 title TITLE noenhanced font F_TITLE \
    margins 0.065,0.98,BOTTOM,0.8 spacing 0.08,0
set xlabel 'path length k (residual branches on the path)'
# one file: the title names it; several: one key below the panels
if (N > 1) { set key at screen 0.5,0.01 center bottom vertical } else { unset key }
if (XSTEP > 0) set xtics XSTEP
set title '(a) number of paths per length' font F_PANEL
if (COUNT_MODE == 1) { set logscale y; set format y '10^{%L}' } else { set yrange [0:*] }
set ylabel (COUNT_MODE == 2 ? 'log_{10} number of paths' : 'number of paths C(L, k)')
plot for [i=1:N] datafile index IDX[i] using 1:(COUNT_MODE == 2 ? $3 : $2) \
         with linespoints lt i dt DT[(i-1)%8+1] pi PI title LABEL[i]
unset logscale y
set format y '%g'
set autoscale y
set title '(b) gradient magnitude per path' font F_PANEL
unset key
set ylabel '‖G_k‖ / C(L, k)  (loss/act.)'
if (LOG_PER) { set logscale y; set format y '10^{%L}' }
plot for [i=1:N] datafile index IDX[i] using 1:5 \
         with linespoints lt i dt DT[(i-1)%8+1] pi PI title LABEL[i]
unset logscale y
set format y '%g'
set autoscale y
set title '(c) total gradient magnitude per length' font F_PANEL
set ylabel '‖G_k‖  (loss/act.)'
if (LOG_TOTAL) { set logscale y; set format y '10^{%L}'; set yrange [TOTAL_MIN:*] } else { set yrange [0:*] }
plot for [i=1:N] datafile index IDX[i] using 1:4 \
         with linespoints lt i dt DT[(i-1)%8+1] pi PI title LABEL[i]
unset multiplot
