/* cmd_info.c — `gradflow info MODEL`: the layer table and parameter count,
 * so a user can check a model before training it. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "gradflow/net.h"

static const char help[] =
    "usage: gradflow info MODEL [--input CxHxW] [--classes K] [--width W] [--layers]\n"
    "Describes a model: family, depth, blocks, parameter count and, with --layers,\n"
    "every layer's PyTorch name, kind and output shape.\n"
    "  MODEL          plain-N, resnet-N[-A|-B], preact-resnet-N[-A|-B] (N = 6n+2),\n"
    "                 mlp-plain-D, mlp-res-D (D = 2k+2)\n"
    "  --input CxHxW  input shape (default 3x32x32)\n"
    "  --classes K    number of classes (default 10)\n"
    "  --width W      hidden width of the MLP families (default 128)\n";

int cmd_info(int argc, char **argv)
{
    const char *model = NULL;
    int c = 3, h = 32, w = 32, classes = 10, width = 128, layers = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--layers") == 0) {
            layers = 1;
        } else if (strcmp(argv[i], "--input") == 0 && i + 1 < argc) {
            if (sscanf(argv[++i], "%dx%dx%d", &c, &h, &w) != 3 || c < 1 || h < 1 || w < 1)
                return cli_fail(2, "info", "--input needs CxHxW, e.g. 1x28x28, got '%s'",
                                argv[i]);
        } else if (strcmp(argv[i], "--classes") == 0 && i + 1 < argc) {
            if (sscanf(argv[++i], "%d", &classes) != 1 || classes < 2)
                return cli_fail(2, "info", "--classes needs an integer >= 2");
        } else if (strcmp(argv[i], "--width") == 0 && i + 1 < argc) {
            if (sscanf(argv[++i], "%d", &width) != 1 || width < 1)
                return cli_fail(2, "info", "--width needs a positive integer");
        } else if (argv[i][0] == '-' || model) {
            return cli_fail(2, "info", "unexpected argument '%s' (see --help)", argv[i]);
        } else {
            model = argv[i];
        }
    }
    if (!model)
        return cli_fail(2, "info", "no model given (see --help)");
    gf_model_spec spec;
    gf_err err;
    if (gf_model_parse(model, &spec, &err))
        return cli_fail(2, "info", "%s", err.msg);
    spec.in_c = c, spec.in_h = h, spec.in_w = w, spec.num_classes = classes;
    spec.mlp_width = width;
    gf_net *net = gf_net_new(&spec, 1, &err);
    if (!net)
        return cli_fail(1, "info", "%s", err.msg);
    char name[64];
    gf_model_name(&spec, name, sizeof name);
    printf("%s: %s, %d weighted layers, %d blocks, input %dx%dx%d, %d classes\n", name,
           gf_family_name(spec.family), spec.depth, gf_net_num_blocks(net), c, h, w, classes);
    printf("parameters: %zu trainable\n", gf_net_num_params(net));
    for (int i = 0; layers && i < gf_net_num_layers(net); i++) {
        const gf_layer *l = gf_net_layer(net, i);
        printf("  %-26s %-8s %4d x %3d x %3d\n", l->name, gf_layer_kind_name(l->kind), l->out_c,
               l->out_h, l->out_w);
    }
    gf_net_free(net);
    return 0;
}
