#define _GNU_SOURCE
#include <spawn.h>
#include "CSlipwaySystem.h"

short slipway_spawn_setsid_flag(void) { return POSIX_SPAWN_SETSID; }

int slipway_spawn_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

#include <sys/socket.h>
int slipway_accept_cloexec(int server) { return accept4(server, NULL, NULL, SOCK_CLOEXEC); }

#include <fcntl.h>
#include <unistd.h>
int slipway_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int slipway_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}

#include <malloc.h>
int slipway_malloc_trim(void) { return malloc_trim(0); }

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

/* Drops this process's hold on the pages of its executable file mappings (r-xp): code that a
   deployment ran but the daemon at rest does not need. The pages stay in the page cache and
   fault back in, minor faults, when the code runs again. Only never-written mappings are
   touched: MADV_DONTNEED on a written private mapping would lose its contents. */
int slipway_release_code_pages(void) {
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps) return -1;
    char line[4096];
    int released = 0;
    while (fgets(line, sizeof line, maps)) {
        unsigned long start, end;
        char permissions[5] = {0};
        char path[4096] = {0};
        if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %4095s", &start, &end, permissions, path) < 3) continue;
        if (strcmp(permissions, "r-xp") != 0 || path[0] != '/') continue;
        if (madvise((void *)start, end - start, MADV_DONTNEED) == 0) released++;
    }
    fclose(maps);
    return released;
}

#include <sys/syscall.h>
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
int slipway_pidfd_open(int pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
