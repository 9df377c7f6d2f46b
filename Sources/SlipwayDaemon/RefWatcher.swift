public import Foundation
import CSlipwaySystem
public import Logging
public import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// Watches the tracked branch: inotify on the folder of its ref file and on the git directory
/// (`packed-refs`), with `poll` as the fallback interval. Runs on its own thread, blocked in
/// poll(2), so at rest it costs nothing.
public struct RefWatcher: Service {
    let refFile: URL
    let gitDirectory: URL
    let interval: Duration
    /// false: polling only.
    let inotify: Bool
    let triggers: Triggers
    let logger: Logger

    public init(refFile: URL, gitDirectory: URL, interval: Duration, inotify: Bool = true, triggers: Triggers, logger: Logger) {
        self.refFile = refFile
        self.gitDirectory = gitDirectory
        self.interval = interval
        self.inotify = inotify
        self.triggers = triggers
        self.logger = logger
    }

    public func run() async throws {
        let inotify = self.inotify ? inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) : -1
        if self.inotify && inotify < 0 { logger.warning("inotify unavailable; polling only", metadata: ["errno": "\(errno)"]) }
        let mask = UInt32(IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE)
        try? FileManager.default.createDirectory(at: refFile.deletingLastPathComponent(), withIntermediateDirectories: true)
        for directory in [refFile.deletingLastPathComponent(), gitDirectory] where inotify >= 0 {
            if inotify_add_watch(inotify, directory.path, mask) < 0 {
                logger.warning("cannot watch", metadata: ["path": "\(directory.path)", "errno": "\(errno)"])
            }
        }
        var wake: [Int32] = [0, 0]
        guard slipway_pipe_cloexec(&wake) == 0 else { throw DaemonError("pipe: \(String(cString: strerror(errno)))") }
        let milliseconds = Int32(interval.components.seconds * 1000 + interval.components.attoseconds / 1_000_000_000_000_000)
        let triggers = self.triggers, refName = refFile.lastPathComponent
        let wakeRead = wake[0], wakeWrite = wake[1]
        let thread = Thread {
            var fds = [pollfd(fd: inotify, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let ready = poll(&fds, 2, milliseconds)
                if fds[1].revents != 0 { return }
                guard ready > 0, fds[0].revents != 0 else {
                    triggers.fire("poll")
                    continue
                }
                // Any event on the ref's name or packed-refs counts; lock files and the rest do not.
                var relevant = false
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
                    guard count > 0 else { break }
                    var offset = 0
                    while offset < count {
                        let length = buffer.withUnsafeBytes { $0.load(fromByteOffset: offset + 12, as: UInt32.self) }
                        let nameStart = offset + 16, nameEnd = nameStart + Int(length)
                        let name = String(decoding: buffer[nameStart..<nameEnd].prefix { $0 != 0 }, as: UTF8.self)
                        if name == refName || name == "packed-refs" { relevant = true }
                        offset = nameEnd
                    }
                }
                if relevant { triggers.fire("ref") }
            }
        }
        thread.start()
        try? await gracefulShutdown()
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        close(wakeWrite)
        if inotify >= 0 { close(inotify) }
    }
}

public struct DaemonError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
