/* checkpoint.h — weights on disk as PyTorch-style state dicts in HDF5.
 *
 * A weights file has root attributes format = "gradflow-weights-1", model
 * ("resnet-20"), in_channels, height, width, num_classes, mlp_width, and one
 * float32 dataset per state_dict tensor under /params, named and shaped as
 * in PyTorch (`params/layer2.0.conv1.weight` [32, 16, 3, 3]) — the layout of
 * ../shared/reference/FORMAT.md, so h5py users can move weights both ways:
 *     sd = {k: torch.from_numpy(v[()]) for k, v in h5py.File(f)["params"].items()}
 * Files are written whole or not at all (a temporary name, then rename). */
#ifndef GRADFLOW_CHECKPOINT_H
#define GRADFLOW_CHECKPOINT_H

#include "gradflow/error.h"
#include "gradflow/net.h"
#include "gradflow/optim.h"
#include "gradflow/train.h"

int gf_weights_save(const gf_net *net, const char *path, gf_err *err);
/* Loads every tensor of net from path; refuses a file that lacks one, holds
 * one with another shape, or holds a tensor the model does not have. */
int gf_weights_load(gf_net *net, const char *path, gf_err *err);

/* The model a weights file or checkpoint was saved from (its root attributes). */
int gf_weights_spec(const char *path, gf_model_spec *spec, gf_err *err);

/* A training checkpoint: a weights file (format "gradflow-checkpoint-1", same
 * /params) plus the optimiser's momentum buffers (/optim/momentum), the
 * loader's order and generators (/loader/perm, /loader/shuffle_rng and augment_rng), the loop's position and sums and
 * the summary so far (root attributes), and the command line that started
 * the run (/config/argv), so `gradflow train --resume FILE` needs nothing else.
 * Written whole or not at all. */
int gf_checkpoint_save(const char *path, const gf_net *net, const gf_sgd *sgd,
                       const gf_train_status *s, const gf_train_summary *so_far,
                       const char *const *argv, int argc, gf_err *err);

/* The command line stored in a checkpoint (free with gf_h5_names_free). */
int gf_checkpoint_argv(const char *path, char ***argv, int *argc, gf_err *err);

/* Restores weights, running statistics, momentum buffers and the loop state
 * into net, sgd (initialised for net) and res. res->perm points into
 * *perm_storage, which the caller frees. Leaves net untouched on failure. */
int gf_checkpoint_load(const char *path, gf_net *net, gf_sgd *sgd, gf_train_resume *res,
                       int32_t **perm_storage, gf_err *err);

#endif
