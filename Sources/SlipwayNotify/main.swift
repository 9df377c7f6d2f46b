// slipway-notify REPO: wakes the daemon watching REPO (a git directory or a working tree's top)
// through its control socket, as `slipway notify` does, and those of the repositories REPO's
// state directory lists in `notify`. The post-receive and post-merge hooks
// run it on every push and merge: with no Foundation and no libgit2 it starts in a millisecond
// where `slipway` takes ten. Exits 0 whether or not a daemon listens (a hook must not fail a push).
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
guard arguments.count == 2, !arguments[1].hasPrefix("-") else {
    let usage = Array("usage: slipway-notify REPO (a git directory, or a working tree's top)\n".utf8)
    _ = write(2, usage, usage.count)
    exit(2)
}
let repo = arguments[1]

/// A repository's state directory: `<git dir>/slipway`.
func stateDirectory(of repo: String) -> String {
    let isGitDirectory = access(repo + "/HEAD", F_OK) == 0 && access(repo + "/objects", F_OK) == 0
    return (isGitDirectory ? repo : repo + "/.git") + "/slipway"
}

/// The other repositories whose daemons a push here wakes (`slipway hooks install --server
/// --notify PATH`: a daemon in remote mode keeps its own clone): absolute paths, one per line,
/// at most 8 from the first 64 KiB of a regular file.
func alsoNotified(_ state: String) -> [String] {
    let fd = open(state + "/notify", O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return [] }
    var bytes = [UInt8](repeating: 0, count: 65_536)
    let count = read(fd, &bytes, bytes.count)
    guard count > 0 else { return [] }
    return bytes[0..<count].split(separator: UInt8(ascii: "\n")).prefix(8)
        .map { String(decoding: $0, as: UTF8.self) }.filter { $0.hasPrefix("/") }
}

func notify(_ path: String) -> Bool {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let fits = withUnsafeMutableBytes(of: &address.sun_path) { buffer -> Bool in
        let bytes = Array(path.utf8)
        guard bytes.count < buffer.count else { return false }
        buffer.copyBytes(from: bytes)
        return true
    }
    guard fits else { return false }
    // A daemon that does not take the connection at once (its backlog full) is not waited for,
    // and one that takes it has 2 s to answer: a push waits for this hook.
    let flags = fcntl(fd, F_GETFL)
    _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard connected == 0 else { return false }
    _ = fcntl(fd, F_SETFL, flags)
    var timeout = timeval(tv_sec: 2, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let command = Array("notify\n".utf8)
    guard write(fd, command, command.count) == command.count else { return false }
    var reply = [UInt8](repeating: 0, count: 256)
    return read(fd, &reply, reply.count) > 0
}

let state = stateDirectory(of: repo)
print(notify(state + "/control.sock") ? "notified" : "no daemon is watching \(repo)")
for other in alsoNotified(state) {
    print(notify(stateDirectory(of: other) + "/control.sock") ? "notified \(other)" : "no daemon is watching \(other)")
}
