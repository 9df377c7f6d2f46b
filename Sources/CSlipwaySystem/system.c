#define _GNU_SOURCE
#include <spawn.h>
#include "CSlipwaySystem.h"

short slipway_spawn_setsid_flag(void) { return POSIX_SPAWN_SETSID; }

int slipway_spawn_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

#include <malloc.h>
int slipway_malloc_trim(void) { return malloc_trim(0); }
