#ifndef CSLIPWAY_SYSTEM_H
#define CSLIPWAY_SYSTEM_H
#include <spawn.h>

/// POSIX_SPAWN_SETSID, which glibc only declares under _GNU_SOURCE.
short slipway_spawn_setsid_flag(void);

/// posix_spawn_file_actions_addchdir_np, which glibc only declares under _GNU_SOURCE.
int slipway_spawn_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *path);

/// accept4(server, NULL, NULL, SOCK_CLOEXEC), which glibc only declares under _GNU_SOURCE.
int slipway_accept_cloexec(int server);

/// pipe2(fds, O_CLOEXEC), which glibc only declares under _GNU_SOURCE.
int slipway_pipe_cloexec(int fds[2]);

/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34): the child closes every descriptor
/// from `lowest` up, whatever its close-on-exec flag.
int slipway_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int lowest);


/// pidfd_open(pid, 0) (Linux 5.3): a descriptor that becomes readable when the process exits,
/// whoever its parent is; -1 with errno when the process is gone or the kernel has none.
int slipway_pidfd_open(int pid);

/// malloc_trim(0): return freed heap memory to the system (glibc).
int slipway_malloc_trim(void);

/// madvise(MADV_DONTNEED) on every executable file mapping: the code pages a run touched leave
/// the resident set until they run again. Returns the number of mappings released.
int slipway_release_code_pages(void);

/// The port of every TCP socket in LISTEN state, IPv4 and IPv6, asked of the kernel's socket
/// diagnostics (netlink), which walk the listening sockets only. Writes at most `capacity`
/// ports (one per socket, so a port may repeat) and returns how many; -1 when the kernel could
/// not be asked or there were more.
int slipway_listening_ports(unsigned short *ports, int capacity);
#endif
