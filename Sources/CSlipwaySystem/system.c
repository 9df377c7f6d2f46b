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

#include <errno.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>

/* One family's listening TCP sockets; -1 on any failure (the caller then asks port by port). */
static int listening_ports_of(int family, unsigned short *ports, int capacity, int count) {
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) return -1;
    struct { struct nlmsghdr header; struct inet_diag_req_v2 request; } message;
    memset(&message, 0, sizeof message);
    message.header.nlmsg_len = sizeof message;
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    message.request.sdiag_family = family;
    message.request.sdiag_protocol = IPPROTO_TCP;
    message.request.idiag_states = 1 << 10; /* TCP_LISTEN */
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    struct timeval patience = { .tv_sec = 2 };  /* the kernel answers at once; never wait for ever */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    if (sendto(fd, &message, sizeof message, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) { close(fd); return -1; }
    static _Thread_local char buffer[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
    for (;;) {
        ssize_t got = recv(fd, buffer, sizeof buffer, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) { close(fd); return -1; }
        int left = (int)got;
        for (struct nlmsghdr *header = (struct nlmsghdr *)buffer; NLMSG_OK(header, left); header = NLMSG_NEXT(header, left)) {
            /* A dump cut short (an error at its end, or sockets changing under it) is no list. */
            int interrupted = (header->nlmsg_flags & NLM_F_DUMP_INTR) != 0;
            if (header->nlmsg_type == NLMSG_DONE) {
                int status = header->nlmsg_len >= NLMSG_LENGTH(sizeof(int)) ? *(int *)NLMSG_DATA(header) : 0;
                close(fd);
                return status < 0 || interrupted ? -1 : count;
            }
            if (header->nlmsg_type == NLMSG_NOOP) continue;
            if (header->nlmsg_type != SOCK_DIAG_BY_FAMILY || interrupted
                || header->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)) || count >= capacity) {
                close(fd);
                return -1;
            }
            struct inet_diag_msg *entry = NLMSG_DATA(header);
            ports[count++] = ntohs(entry->id.idiag_sport);
        }
    }
}

int slipway_listening_ports(unsigned short *ports, int capacity) {
    int count = listening_ports_of(AF_INET, ports, capacity, 0);
    return count < 0 ? -1 : listening_ports_of(AF_INET6, ports, capacity, count);
}
