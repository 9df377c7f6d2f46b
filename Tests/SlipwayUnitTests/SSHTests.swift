import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SlipwayHost
@testable import SlipwayEngine
@testable import SlipwayManifest

/// The pieces of the SSH target that decide alone: the quoting that carries an argv array
/// through the remote login shell, ssh's own argv, and the manifest's `target: { kind: ssh }`.
@Suite("ssh: quoting, ssh's argv, the target in a manifest")
struct SSHTests {
    @Test("an argv array survives the remote shell: quotes, spaces, $, backticks, a leading dash, an empty argument")
    func quoting() async throws {
        let folder = try HostDoorTests.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let argv = ["printf", "%s|", "a b", "it's", "$HOME", "`id`", "$(id)", "--help", "", "line\nbreak", "\\"]
        let line = RemoteShell.commandLine(argv)
        #expect(line.hasPrefix("'printf' '%s|' 'a b' 'it'\\''s'"))
        // What sshd does with the line: the login shell reads it.
        let spec = LaunchSpec(arguments: ["sh", "-c", line], environment: ["PATH": "/usr/bin:/bin", "HOME": "/nowhere"],
                              workingDirectory: folder, logFile: folder.appendingPathComponent("out.log"))
        let result = try await Commands.output(of: spec, executable: URL(fileURLWithPath: "/bin/sh"), timeout: .seconds(10))
        #expect(result.status == 0 && result.text == argv.dropFirst(2).map { "\($0)|" }.joined(), "\(result)")
    }

    @Test("ssh's argv: no prompt, strict host keys, one multiplexed connection, pinned keys only, options ended before the host")
    func arguments() {
        let client = SSHClient(controlDirectory: URL(fileURLWithPath: "/state/ssh"), knownHosts: URL(fileURLWithPath: "/state/my keys/known_hosts"),
                               environment: ["HOME": "/root", "SECRET_TOKEN": "x", "SSH_AUTH_SOCK": "/tmp/agent"])
        let argv = client.arguments(SSHDestination(host: "web-1", user: "deploy", port: 2222), remote: ["uname", "-a"])
        #expect(argv.first == "ssh" && argv.suffix(3) == ["--", "web-1", "'uname' '-a'"])
        for option in ["BatchMode=yes", "StrictHostKeyChecking=yes", "ControlMaster=auto", "ControlPath=\"/state/ssh/%C\"",
                       "UserKnownHostsFile=\"/state/my keys/known_hosts\"", "GlobalKnownHostsFile=/dev/null", "KnownHostsCommand=none", "VerifyHostKeyDNS=no"] {
            #expect(argv.contains(option), "\(option) in \(argv)")
        }
        #expect(argv.contains("-p") && argv.contains("2222") && argv.contains("-l") && argv.contains("deploy"))
        #expect(client.environment == ["HOME": "/root", "SSH_AUTH_SOCK": "/tmp/agent"], "only what ssh needs is passed on")
        // 50 bytes: "<path>/<40>" fits in 107, but the master's first "<that>.<16 characters>" does not.
        let long = SSHClient(controlDirectory: URL(fileURLWithPath: "/" + String(repeating: "d", count: 49)), environment: [:])
        let unshared = long.arguments(SSHDestination(host: "h"), remote: ["true"])
        #expect(unshared.contains("ControlMaster=no") && unshared.contains("ControlPath=none") && !unshared.contains { $0.hasPrefix("ControlPersist") },
                "a control socket path (or the master's temporary one) over 107 bytes: no multiplexing, and no master of the user's own configuration either")
        #expect(SSHClient(controlDirectory: URL(fileURLWithPath: "/" + String(repeating: "d", count: 48)), environment: [:])
            .arguments(SSHDestination(host: "h"), remote: ["true"]).contains("ControlMaster=auto"))
        #expect(SSHClient.literal("/a%b") == "/a%%b")
    }

    @Test("the host scripts, run by sh here: start registers a detached process fed its environment on stdin, list finds it, stop ends it; a taken port says so")
    func hostScripts() async throws {
        let folder = try HostDoorTests.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let sh = URL(fileURLWithPath: "/bin/sh"), directory = folder.appendingPathComponent("env").path
        let input = folder.appendingPathComponent("env.in")
        try RemoteInstances.environmentFile(["GREETING": "it's $HOME `id`"]).write(to: input)
        func script(_ text: String, _ arguments: [String], stdin: URL? = nil) async throws -> (status: Int32?, text: String) {
            let spec = LaunchSpec(arguments: ["sh", "-c", text, "sh"] + arguments, environment: ["PATH": "/usr/bin:/bin"],
                                  workingDirectory: folder, logFile: folder.appendingPathComponent("out.log"), input: stdin)
            return try await Commands.output(of: spec, executable: sh, timeout: .seconds(20))
        }
        let port = try Ports.free()
        let started = try await script(RemoteInstances.startScript, [directory, "app-1", "\(port)", "/bin/sh", "-c", "echo \"$GREETING\"; sleep 60 & echo $! > child; wait"], stdin: input)
        #expect(started.status == 0, "\(started.text)")
        let pid = try #require(started.text.split(separator: " ").first.flatMap { Int32($0) })
        let listed = try await script(RemoteInstances.listScript, [directory])
        #expect(RemoteInstances.parse(line: listed.text.trimmingCharacters(in: .newlines))?.running == true, "\(listed.text)")
        #expect(listed.text.hasPrefix("app-1 \(pid) ") && listed.text.contains(" \(port) running"))
        #expect(await eventually { (try? String(contentsOfFile: directory + "/logs/app-1.log", encoding: .utf8)) == "it's $HOME `id`\n" })
        #expect(!FileManager.default.fileExists(atPath: directory + "/instances/app-1.env"), "the environment file is gone once read")

        #expect(await eventually { FileManager.default.fileExists(atPath: directory + "/child") })
        let child = try #require(Int32((try String(contentsOfFile: directory + "/child", encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(try await script(RemoteInstances.stopScript, [directory, "app-1", "20"]).status == 0)
        #expect(try await script(RemoteInstances.listScript, [directory]).text.isEmpty)
        #expect(kill(pid, 0) != 0, "the process is gone")
        #expect(await eventually { kill(child, 0) != 0 }, "and what it started: the whole process group (with dash as sh too)")

        let held = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(held) }
        var address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: in_port_t(UInt16(port).bigEndian), sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(held, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(held, 1)
        #expect(try await script(RemoteInstances.startScript, [directory, "app-2", "\(port)", "/bin/true"], stdin: input).status == RemoteInstances.portTaken)
        #expect(throws: LaunchError.self) { try RemoteInstances.environmentFile(["BAD NAME": "x"]) }
    }

    @Test("a stop on a host prunes its logs as this machine does: of instances it no longer registers, the 16 newest and the last hour's stay")
    func hostLogsPruned() async throws {
        let folder = try HostDoorTests.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let directory = folder.appendingPathComponent("env")
        let logs = directory.appendingPathComponent("logs"), instances = directory.appendingPathComponent("instances")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: instances, withIntermediateDirectories: true)
        let old = Date().addingTimeInterval(-10_000)
        func log(_ name: String, at date: Date) throws {
            let file = logs.appendingPathComponent(name)
            try Data("x\n".utf8).write(to: file)
            try FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: file.path)
        }
        for index in 0..<20 { try log("o\(index).log", at: old.addingTimeInterval(Double(index))) }  // o19 the newest
        for index in 0..<3 { try log("r\(index).log", at: Date()) }
        for id in ["g0", "g1"] {  // the oldest, of instances the host still registers
            try log("\(id).log", at: old.addingTimeInterval(-100))
            try Data("1 1 1\n".utf8).write(to: instances.appendingPathComponent("\(id).instance"))
        }
        try log("notes.txt", at: old)
        let spec = LaunchSpec(arguments: ["sh", "-c", RemoteInstances.stopScript, "sh", directory.path, "gone", "1", "\(RemoteInstances.keptLogs)"],
                              environment: ["PATH": "/usr/bin:/bin"], workingDirectory: folder, logFile: folder.appendingPathComponent("out.log"))
        let stopped = try await Commands.output(of: spec, executable: URL(fileURLWithPath: "/bin/sh"), timeout: .seconds(20))
        #expect(stopped.status == 0, "\(stopped.text)")
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: logs.path))
        // The 16 newest unregistered: r0–r2 and o7–o19; o0–o6 go.
        #expect(left == Set(["g0.log", "g1.log", "notes.txt"] + (0..<3).map { "r\($0).log" } + (7..<20).map { "o\($0).log" }), "\(left.sorted())")
    }

    func eventually(_ condition: () -> Bool) async -> Bool {
        for _ in 0..<200 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(25))
        }
        return condition()
    }

    func diagnostics(_ target: String) -> [String] {
        let text = "service: web\nversion: \"1\"\nrun: { command: [\"web\"] }\ntraffic: { listen: \"127.0.0.1:8080\" }\n" + target
        do {
            _ = try ManifestParser.parse(Data(text.utf8), path: "Environments/production.yaml")
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    @Test("the balancer's address of a host: an IPv4 literal as it is; a name as ssh's configuration and the resolver give it, with a bound; none is an error")
    func address() async throws {
        let folder = try HostDoorTests.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let client = SSHClient(controlDirectory: folder.appendingPathComponent("ssh"), environment: ["PATH": "/usr/bin:/bin", "HOME": folder.path])
        #expect(try await client.address(of: SSHDestination(host: "10.1.2.3")) == "10.1.2.3")
        #expect(try await client.address(of: SSHDestination(host: "localhost")) == "127.0.0.1")
        await #expect(throws: LaunchError.self) { _ = try await client.address(of: SSHDestination(host: "no-such-host.invalid")) }
        #expect((try? FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("ssh").path))?.isEmpty ?? true, "nothing left behind")
    }

    @Test("target kind ssh: hosts as a list or in groups, counts and percentages, defaults")
    func target() throws {
        let text = """
            service: web
            version: "1"
            run: { command: ["web"] }
            traffic: { listen: "*:8080" }
            target:
              kind: ssh
              hosts: { eu: [web-1, web-2], us: [10.0.0.3] }
              user: deploy
              bootLimit: 50%
              bootWait: 5s

            """
        let fleet = try #require(try ManifestParser.parse(Data(text.utf8), path: "Environments/production.yaml").fleet)
        #expect(fleet.groups == [HostGroup(name: "eu", hosts: ["web-1", "web-2"]), HostGroup(name: "us", hosts: ["10.0.0.3"])])
        #expect(fleet.user == "deploy" && fleet.port == nil && fleet.bootWait == .seconds(5) && fleet.stateDirectory == ".slipway")
        #expect(fleet.bootLimit.of(3) == 2 && fleet.minHealthyHosts.of(3) == 3)
        #expect(Share(text: "25%")?.of(10) == 3 && Share(text: "4")?.of(3) == 3 && Share(text: "0") == nil && Share(text: "101%") == nil)
        #expect(diagnostics("target: { kind: ssh, hosts: [a, b], minHealthyHosts: \"1\" }").isEmpty)
    }

    @Test("ssh targets refuse what ssh or a shell could misread: a host or user starting with -, a space, a host twice, no hosts")
    func refusals() {
        #expect(diagnostics("target: { kind: ssh, hosts: [\"-oProxyCommand=touch /tmp/x\"] }").first?.contains("is not a host name") == true)
        #expect(diagnostics("target: { kind: ssh, hosts: [\"a b\"] }").first?.contains("is not a host name") == true)
        #expect(diagnostics("target: { kind: ssh, hosts: [a], user: \"-F/tmp/config\" }").first?.contains("target.user") == true)
        #expect(diagnostics("target: { kind: ssh, hosts: [a, a] }").first?.contains("names a twice") == true)
        #expect(diagnostics("target: { kind: ssh }").first?.contains("target.hosts must list") == true)
        #expect(diagnostics("target: { kind: ssh, hosts: [a], bootLimit: lots }").first?.contains("a number of hosts (2) or a percentage") == true)
        #expect(diagnostics("target: { kind: process, hosts: [a] }").first?.contains("target.hosts is for kind: ssh only") == true)
    }

    @Test("run.artifact: a file of the ops repo or state:NAME with its sha256, for ssh targets only; {artifact} runs it from the instance's folder")
    func artifact() throws {
        let sha = String(repeating: "ab", count: 32)
        func parse(_ artifact: String, target: String = "target: { kind: ssh, hosts: [a] }") -> (Manifest?, [String]) {
            let text = "service: web\nversion: \"1\"\nrun: { command: [\"{artifact}\", \"--port\", \"{port}\"], artifact: \(artifact) }\n"
                + "traffic: { listen: \"127.0.0.1:8080\" }\n\(target)\n"
            do {
                return (try ManifestParser.parse(Data(text.utf8), path: "Environments/production.yaml"), [])
            } catch {
                return (nil, error.diagnostics.map(\.description))
            }
        }
        #expect(parse("{ file: bin/web, sha256: \(sha) }").0?.run.artifact == Artifact(file: "bin/web", sha256: sha))
        #expect(parse("{ file: \"state:web-1.4\", sha256: \(sha) }").0?.run.artifact?.stateName == "web-1.4")
        for bad in ["{ file: /etc/shadow, sha256: \(sha) }", "{ file: ../x, sha256: \(sha) }", "{ file: \"state:..\", sha256: \(sha) }",
                    "{ file: \"state:a/b\", sha256: \(sha) }", "{ file: bin/web, sha256: ABC }", "{ file: bin/web }"] {
            #expect(parse(bad).1.first?.contains("run.artifact") == true, "\(bad): \(parse(bad).1)")
        }
        #expect(parse("{ file: bin/web, sha256: \(sha) }", target: "").1.first?.contains("run.artifact is for ssh targets") == true)
        let withoutArtifact = "service: web\nversion: \"1\"\nrun: { command: [\"{artifact}\"] }\ntraffic: { listen: \"127.0.0.1:8080\" }\ntarget: { kind: ssh, hosts: [a] }\n"
        #expect(throws: (any Error).self) { try ManifestParser.parse(Data(withoutArtifact.utf8), path: "Environments/production.yaml") }
        do {
            _ = try ManifestParser.parse(Data(withoutArtifact.utf8), path: "Environments/production.yaml")
        } catch {
            #expect(error.diagnostics.first?.description.contains("run.command uses {artifact}, but run.artifact names none") == true, "\(error.diagnostics)")
        }
        #expect(diagnostics("hooks: { preDeploy: [\"x\", \"{artifact}\"] }").first?.contains("unknown placeholder {artifact}") == true, "only run.command knows it")
        let launcher = StrategyBench.launcher(for: try #require(parse("{ file: bin/web, sha256: \(sha) }").0))
        #expect(launcher.remoteLaunch(id: "web-1", port: 8080).arguments == ["./artifacts/\(sha)", "--port", "8080"])
    }
}
