/* cmd_export.c — `gradflow export CHECKPOINT.h5 -o WEIGHTS.h5`: the weights
 * of a checkpoint (or weights file) as a plain state dict, for PyTorch users. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "gradflow/checkpoint.h"

static const char help[] =
    "usage: gradflow export FILE.h5 -o WEIGHTS.h5\n"
    "Writes the weights of a checkpoint (or weights file) as a PyTorch-style state dict\n"
    "in HDF5: one float32 dataset per state_dict tensor under /params, e.g.\n"
    "  sd = {k: torch.from_numpy(v[()]) for k, v in h5py.File('w.h5')['params'].items()}\n"
    "  model.load_state_dict(sd, strict=False)   # num_batches_tracked is not stored\n";

int cmd_export(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help, stdout);
            return 0;
        } else if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out")) {
            if (!(out = cli_value("export", argc, argv, &i)))
                return 2;
        } else if (argv[i][0] == '-' || in) {
            return cli_fail(2, "export", "unexpected argument '%s' (see --help)", argv[i]);
        } else {
            in = argv[i];
        }
    }
    if (!in || !out)
        return cli_fail(2, "export", "need FILE.h5 and -o WEIGHTS.h5 (see --help)");
    gf_model_spec spec;
    gf_err err;
    if (gf_weights_spec(in, &spec, &err))
        return cli_fail(1, "export", "%s", err.msg);
    gf_net *net = gf_net_new(&spec, 1, &err);
    int rc = !net || gf_weights_load(net, in, &err) || gf_weights_save(net, out, &err);
    if (rc)
        cli_fail(1, "export", "%s", err.msg);
    else
        printf("%s: %zu trainable parameters of %s written as a state dict\n", out,
               gf_net_num_params(net), argv[1]);
    gf_net_free(net);
    return rc;
}
