import Foundation
import Synchronization
import CSlipwaySystem
#if canImport(Glibc)
import Glibc
#endif

/// Tells at once when a watched process exits, whoever started it: a pidfd per process, polled
/// on a thread of its own, so that an instance that crashes between two looks of the daemon is
/// replaced now rather than at the next look. `watch` replaces the set; `onExit` gets each pid
/// once (at once for one already gone).
public final class ExitWatcher: Sendable {
    /// The pids to watch, and those reported gone (not watched again while they are asked for:
    /// a stale pid file must not wake the daemon over and over).
    private let pids = Mutex<(wanted: Set<Int32>, reported: Set<Int32>)>(([], []))
    private let wake: (read: Int32, write: Int32)

    public init(onExit: @escaping @Sendable (Int32) -> Void) throws {
        var fds: [Int32] = [0, 0]
        guard slipway_pipe_cloexec(&fds) == 0 else { throw LaunchError("pipe: \(String(cString: strerror(errno)))") }
        wake = (fds[0], fds[1])
        Thread.detachNewThread { [self] in watchLoop(onExit) }
    }

    /// Watches exactly `wanted` from now on (less those already reported gone).
    public func watch(_ wanted: Set<Int32>) {
        guard pids.withLock({ pids in
            pids.reported.formIntersection(wanted)
            let next = wanted.subtracting(pids.reported)
            defer { pids.wanted = next }
            return pids.wanted != next
        }) else { return }
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
    }

    /// Ends the watching thread.
    public func stop() { close(wake.write) }

    /// The pidfds are this thread's alone: opened and closed here, never while polled.
    private func watchLoop(_ onExit: @Sendable (Int32) -> Void) {
        var open: [Int32: Int32] = [:]  // pid → pidfd
        var buffer = [UInt8](repeating: 0, count: 64)
        defer { open.values.forEach { close($0) }; close(wake.read) }
        while true {
            let pids = self.pids.withLock { $0.wanted }
            for (pid, descriptor) in open where !pids.contains(pid) {
                close(descriptor)
                open[pid] = nil
            }
            for pid in pids where open[pid] == nil {
                let descriptor = slipway_pidfd_open(pid)
                if descriptor >= 0 { open[pid] = descriptor } else { exited(pid, onExit) }
            }
            let watched = Array(open)
            var polled = [pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
                + watched.map { pollfd(fd: $0.value, events: Int16(POLLIN), revents: 0) }
            guard poll(&polled, nfds_t(polled.count), -1) >= 0 || errno == EINTR else { return }
            if polled[0].revents != 0, read(wake.read, &buffer, buffer.count) <= 0 { return }  // closed by stop()
            for (index, (pid, descriptor)) in watched.enumerated() where polled[index + 1].revents != 0 {
                close(descriptor)
                open[pid] = nil
                exited(pid, onExit)
            }
        }
    }

    private func exited(_ pid: Int32, _ onExit: @Sendable (Int32) -> Void) {
        pids.withLock { pids in
            pids.wanted.remove(pid)
            pids.reported.insert(pid)
        }
        onExit(pid)
    }
}
