import Foundation
import SlipwayHost
#if canImport(Glibc)
import Glibc
#endif

/// Machines for the fleet tests: network namespaces on a bridge this fixture creates and
/// removes, on a private /24 it picks unused (10.231–254.x.0). Each runs a real `sshd` with its
/// own host key, in a mount namespace of its own where the fleet's state directory
/// (`remoteState`) is that host's folder, so that no host sees another's files. The controller
/// connects with the real `ssh` client through an `ssh-agent` holding the fixture's key; host
/// keys are pinned in `knownHosts`. Only these addresses and 127.0.0.1 are ever contacted.
struct FleetFixture: Sendable {
    struct Host: Sendable {
        let name: String
        let namespace: String
        let address: String
        let folder: URL
        var sshd: pid_t
    }

    let root: URL
    let tag: String
    let bridge: String
    var hosts: [Host]
    /// The path every host sees as its own state directory.
    let remoteState: URL
    let knownHosts: URL
    let agentSocket: URL
    var agent: pid_t = 0

    /// Why fleet tests cannot run here (not root, no `ip`, no `sshd`); nil when they can.
    static var unavailable: String? {
        if getuid() != 0 { return "fleet tests need root for network namespaces" }
        for tool in ["/usr/sbin/ip", "/usr/sbin/sshd", "/usr/bin/ssh-agent", "/usr/bin/unshare"] where access(tool, X_OK) != 0 {
            return "fleet tests need \(tool) (Scripts/install-system-packages installs it)"
        }
        return nil
    }

    static func with<T>(hosts count: Int, _ body: (FleetFixture) async throws -> T) async throws -> T {
        let fixture = try await offPool {
            var fixture = try FleetFixture(count: count)
            do {
                try fixture.setUp()
                for index in fixture.hosts.indices { fixture.hosts[index].sshd = try fixture.startSSHD(fixture.hosts[index]) }
                try fixture.waitForSSH()
                return fixture
            } catch {
                fixture.tearDown()
                throw error
            }
        }
        do {
            let result = try await body(fixture)
            await offPool { fixture.tearDown() }
            return result
        } catch {
            await offPool { fixture.tearDown() }
            throw error
        }
    }

    /// Runs blocking work (commands polled to their end, waitpid) on a thread of its own, not
    /// on the test process's small concurrency pool that the other suites share.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
        }
    }

    static func offPool(_ work: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                work()
                continuation.resume()
            }
        }
    }

    private init(count: Int) throws {
        let tag = String(UUID().uuidString.prefix(4)).lowercased()
        self.tag = tag
        root = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-fleet-\(tag)")
        remoteState = root.appendingPathComponent("remote-state")
        knownHosts = root.appendingPathComponent("known_hosts")
        agentSocket = root.appendingPathComponent("agent.sock")
        bridge = "slwb\(tag)"
        try FileManager.default.createDirectory(at: remoteState, withIntermediateDirectories: true)
        let subnet = try Self.unusedSubnet()
        hosts = (0..<count).map { index in
            Host(name: "host\(index)", namespace: "slw\(tag)h\(index)", address: "\(subnet).\(10 + index)",
                 folder: FileManager.default.temporaryDirectory.appendingPathComponent("slipway-fleet-\(tag)/host\(index)"), sshd: 0)
        }
    }

    /// The bridge, the hosts and the agent (undone by `tearDown`, also when this fails halfway).
    private mutating func setUp() throws {
        let subnet = hosts[0].address.split(separator: ".").prefix(3).joined(separator: ".")
        try ip(["link", "add", "name", bridge, "type", "bridge"])
        try ip(["addr", "add", "\(subnet).1/24", "dev", bridge])
        try ip(["link", "set", bridge, "up"])
        for host in hosts { try makeHost(host) }
        let key = root.appendingPathComponent("id_ed25519")
        try Self.check(Command.run(URL(fileURLWithPath: "/usr/bin/ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-C", "controller", "-f", key.path]))
        try FileManager.default.copyItem(at: URL(fileURLWithPath: key.path + ".pub"), to: root.appendingPathComponent("authorized_keys"))
        agent = try Command.background(["/usr/bin/ssh-agent", "-D", "-a", agentSocket.path], log: root.appendingPathComponent("agent.log"))
        // The socket exists a moment before the agent listens on it: ask until it answers.
        var added = try Command.run(URL(fileURLWithPath: "/usr/bin/ssh-add"), ["-q", key.path], environment: ["SSH_AUTH_SOCK": agentSocket.path])
        for _ in 0..<200 where added.status != 0 {
            usleep(10_000)
            added = try Command.run(URL(fileURLWithPath: "/usr/bin/ssh-add"), ["-q", key.path], environment: ["SSH_AUTH_SOCK": agentSocket.path])
        }
        try Self.check(added)
    }

    /// A namespace with a veth on the bridge, and the host's key, config and state folder.
    private func makeHost(_ host: Host) throws {
        let veth = "slw\(tag)v\(host.name.dropFirst(4))"
        try ip(["netns", "add", host.namespace])
        try ip(["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", host.namespace])
        try ip(["link", "set", veth, "master", bridge, "up"])
        try ip(["-n", host.namespace, "addr", "add", "\(host.address)/24", "dev", "eth0"])
        try ip(["-n", host.namespace, "link", "set", "eth0", "up"])
        try ip(["-n", host.namespace, "link", "set", "lo", "up"])
        let state = host.folder.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        try newHostKey(host)
        let config = """
            Port 22
            ListenAddress \(host.address)
            HostKey \(host.folder.path)/ssh_host_ed25519_key
            PidFile none
            AuthorizedKeysFile \(root.path)/authorized_keys
            PermitRootLogin prohibit-password
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes no
            MaxStartups 100

            """
        try Data(config.utf8).write(to: host.folder.appendingPathComponent("sshd_config"))
    }

    /// A new host key for `host`, pinned in `knownHosts` in place of any earlier one.
    func newHostKey(_ host: Host) throws {
        let key = host.folder.appendingPathComponent("ssh_host_ed25519_key")
        try? FileManager.default.removeItem(at: key)
        try? FileManager.default.removeItem(at: URL(fileURLWithPath: key.path + ".pub"))
        try Self.check(Command.run(URL(fileURLWithPath: "/usr/bin/ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", key.path]))
        let publicKey = try String(contentsOfFile: key.path + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        let others = ((try? String(contentsOf: knownHosts, encoding: .utf8)) ?? "").split(separator: "\n").filter { !$0.hasPrefix(host.address + " ") }
        try Data((others.map(String.init) + ["\(host.address) \(publicKey)"]).joined(separator: "\n").appending("\n").utf8).write(to: knownHosts)
    }

    /// sshd in the host's namespace, in a mount namespace of its own: a private /run (sshd wants
    /// /run/sshd) and the host's state folder over `remoteState`. The shell only sequences the
    /// mounts; every path reaches it as an argument, never inside its text.
    func startSSHD(_ host: Host) throws -> pid_t {
        let script = "mount -t tmpfs tmpfs /run && mkdir /run/sshd && mount --bind \"$1\" \"$2\" && exec /usr/sbin/sshd -D -e -f \"$3\""
        return try Command.background(["/usr/sbin/ip", "netns", "exec", host.namespace, "/usr/bin/unshare", "--mount", "--propagation", "private",
                                    "/bin/sh", "-c", script, "sh", host.folder.appendingPathComponent("state").path, remoteState.path,
                                    host.folder.appendingPathComponent("sshd_config").path],
                                   log: host.folder.appendingPathComponent("sshd.log"))
    }

    /// Stops a host's sshd and everything running in its namespace (its instances).
    func stopHost(_ host: Host) {
        let pids = (try? Command.run(URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "pids", host.namespace]))?.stdout
            .split(separator: "\n").compactMap { pid_t($0) } ?? []
        for pid in pids + [host.sshd] where pid > 0 { kill(pid, SIGKILL) }
        if host.sshd > 0 { waitpid(host.sshd, nil, 0) }
    }

    private func waitForSSH() throws {
        for host in hosts {
            let deadline = ContinuousClock.now + .seconds(10)
            while !Self.listening(host) {
                guard ContinuousClock.now < deadline else { throw TestFailure("sshd on \(host.name) did not start: \(log(host))") }
                usleep(20_000)
            }
        }
    }

    /// Whether the host's sshd listens (seen from inside its namespace).
    static func listening(_ host: Host) -> Bool {
        let result = try? Command.run(URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "exec", host.namespace, "/usr/bin/ss", "-Htln", "sport = :22"])
        return result?.stdout.contains(host.address) == true
    }

    func log(_ host: Host) -> String { (try? String(contentsOf: host.folder.appendingPathComponent("sshd.log"), encoding: .utf8)) ?? "" }

    func tearDown() {
        for host in hosts {
            stopHost(host)
            _ = try? ip(["netns", "del", host.namespace])
        }
        _ = try? ip(["link", "del", bridge])
        if agent > 0 { kill(agent, SIGKILL); waitpid(agent, nil, 0) }
        // ssh's connection masters for these hosts: their command line names a host's address, or (once a master
        // renames itself "ssh: <control path> [mux]") the fixture's folder.
        for pid in ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap({ pid_t($0) }) {
            guard let raw = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { continue }
            let arguments = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard arguments.first?.hasPrefix("ssh") == true || arguments.first?.hasSuffix("/ssh") == true else { continue }
            if arguments.contains(where: { argument in argument.contains(root.path) || hosts.contains { $0.address == argument } }) {
                kill(pid, SIGKILL)
            }
        }
        try? FileManager.default.removeItem(at: root)
    }

    private func ip(_ arguments: [String]) throws {
        try Self.check(Command.run(URL(fileURLWithPath: "/usr/sbin/ip"), arguments))
    }

    private static func check(_ result: CommandResult) throws {
        guard result.status == 0 else { throw TestFailure(result.output) }
    }

    /// A /24 under 10.231–254 that no interface here uses.
    private static func unusedSubnet() throws -> String {
        let used = (try Command.run(URL(fileURLWithPath: "/usr/sbin/ip"), ["-4", "-o", "addr"])).stdout
            + (try Command.run(URL(fileURLWithPath: "/usr/sbin/ip"), ["-4", "route"])).stdout
        for _ in 0..<50 {
            let subnet = "10.\(Int.random(in: 231...254)).\(Int.random(in: 0...255))"
            if !used.contains(subnet + ".") { return subnet }
        }
        throw TestFailure("no unused 10.x.y.0/24 found")
    }
}
