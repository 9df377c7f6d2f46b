import Foundation
import Testing
import SlipwayHost
#if canImport(Glibc)
import Glibc
#endif

/// Many machines (README, "Many machines"): hosts are network namespaces with a real sshd each
/// (`FleetFixture`), reached with the real ssh client.
@Suite("fleet: ssh to hosts in network namespaces", .serialized,
       .enabled(if: FleetFixture.unavailable == nil, "skipped: needs root, ip, sshd, ssh-agent and unshare (FleetFixture.unavailable says which)"))
struct FleetTests {
    /// Far above what a command takes: in this target, other suites' blocking helpers can hold
    /// every thread of the test process's pool for a while, and a timeout that fires meanwhile
    /// would win over a command that has long finished.
    static let patience: Duration = .seconds(120)

    func client(_ fleet: FleetFixture, controller: String) -> SSHClient {
        SSHClient(controlDirectory: fleet.root.appendingPathComponent(controller).appendingPathComponent("ssh"), knownHosts: fleet.knownHosts,
                  environment: ["HOME": NSHomeDirectory(), "PATH": "/usr/bin:/bin", "SSH_AUTH_SOCK": fleet.agentSocket.path])
    }

    func sockets(in folder: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { name in
            (try? FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(name).path)[.type] as? FileAttributeType) == .typeSocket
        }
    }

    @Test("the ssh door runs argv arrays on each host through one multiplexed connection per host; each host has its own state folder; a changed host key is refused")
    func door() async throws {
        try await FleetFixture.with(hosts: 2) { fleet in
            let ssh = client(fleet, controller: "controller")
            for host in fleet.hosts {
                let destination = SSHDestination(host: host.address, user: "root")
                let quoted = try await ssh.run(destination, ["printf", "%s|", "it's a 'test'", "$HOME", "`id`"], timeout: Self.patience)
                #expect(quoted.status == 0 && quoted.text == "it's a 'test'|$HOME|`id`|", "\(quoted.text) \(fleet.log(host))")
                let address = try await ssh.run(destination, ["ip", "-4", "-o", "addr", "show", "eth0"], timeout: Self.patience)
                #expect(address.text.contains("inet \(host.address)/24"), "the command ran on \(host.name): \(address.text)")
            }
            // One per host at most (a loaded run can outlast ControlPersist's 60 s, and a master then ends).
            #expect((1...2).contains(sockets(in: ssh.controlDirectory).count), "one control socket per host, reused: \(sockets(in: ssh.controlDirectory))")

            let first = SSHDestination(host: fleet.hosts[0].address, user: "root"), second = SSHDestination(host: fleet.hosts[1].address, user: "root")
            let marker = fleet.remoteState.appendingPathComponent("marker").path
            #expect(try await ssh.run(first, ["touch", marker], timeout: Self.patience).status == 0)
            #expect(try await ssh.run(first, ["test", "-e", marker], timeout: Self.patience).status == 0)
            #expect(try await ssh.run(second, ["test", "-e", marker], timeout: Self.patience).status == 1, "another host does not see it")
            #expect(access(marker, F_OK) != 0, "nor does the controller")

            // host1 gets a new key; the pinned one stays: a new connection is refused, nothing runs there.
            let pinned = try Data(contentsOf: fleet.knownHosts)
            try fleet.newHostKey(fleet.hosts[1])
            try pinned.write(to: fleet.knownHosts)
            var fleet = fleet
            fleet.stopHost(fleet.hosts[1])
            fleet.hosts[1].sshd = try fleet.startSSHD(fleet.hosts[1])
            #expect(await eventually { FleetFixture.listening(fleet.hosts[1]) })
            let fresh = client(fleet, controller: "another-controller")
            let refused = try await fresh.run(second, ["touch", marker], timeout: Self.patience)
            #expect(refused.status == 255 && refused.text.contains("Host key verification failed"), "\(refused.text)")
            #expect(try await fresh.run(first, ["true"], timeout: Self.patience).status == 0, "the other host still answers")
        }
    }

    @Test("instances on a host: started detached with the environment on stdin (a secret in no argv), listed back from the host's own registry after the connection is gone, stopped")
    func remoteInstances() async throws {
        try await FleetFixture.with(hosts: 2) { fleet in
            let host = fleet.hosts[0]
            let destination = SSHDestination(host: host.address, user: "root")
            let instances = RemoteInstances(ssh: client(fleet, controller: "controller"), destination: destination,
                                            directory: fleet.remoteState.appendingPathComponent("production").path)
            let secret = "s3cr3t 'value' $HOME"
            let demo = Command.productsDirectory.appendingPathComponent("slipway-demo-service").path
            let started = try await instances.start(id: "web-1a2b3c4d") {
                ([demo, "--host", "0.0.0.0", "--port", "\($0)", "--version", "1.0.0"], ["DB_PASSWORD": secret, "SLIPWAY_INSTANCE": "web-1a2b3c4d"])
            }
            #expect(started.running && started.id == "web-1a2b3c4d")
            #expect(await eventually { (try? RawHTTP.get(host: host.address, port: started.port, path: "/"))?.body == "web 1.0.0\n" })

            // A controller with a connection of its own: the instance outlived the first one, and the host's registry has it.
            let other = RemoteInstances(ssh: client(fleet, controller: "restarted-controller"), destination: destination, directory: instances.directory)
            #expect(try await other.list() == [started])
            let environ = try await other.ssh.run(destination, ["cat", "/proc/\(started.pid)/environ"], timeout: Self.patience).text
            #expect(environ.contains("DB_PASSWORD=\(secret)"), "the secret reached the instance whole")
            let cmdline = try await other.ssh.run(destination, ["cat", "/proc/\(started.pid)/cmdline"], timeout: Self.patience).text
            #expect(!cmdline.contains("s3cr3t"), "and no command line")
            #expect(try await RemoteInstances(ssh: other.ssh, destination: SSHDestination(host: fleet.hosts[1].address, user: "root"),
                                              directory: instances.directory).list().isEmpty, "the other host runs nothing")

            try await other.stop(id: started.id, grace: .seconds(2))
            #expect(try await other.list().isEmpty)
            #expect(await eventually { (try? RawHTTP.get(host: host.address, port: started.port, path: "/")) == nil })
            await #expect(throws: LaunchError.self) {
                _ = try await instances.start(id: "-oops") { _ in (["true"], [:]) }
            }
        }
    }
}
