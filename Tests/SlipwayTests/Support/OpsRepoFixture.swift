import Foundation
@testable import SlipwayRecords
@testable import SlipwayHost

/// A throw-away ops repo made with the git CLI in a temp dir. `with` tears down every
/// instance and HAProxy it started and deletes the dir, whether the test passes or fails.
struct OpsRepoFixture {
    let root: URL
    /// The working tree (for a bare fixture: a clone used to push manifests).
    let workTree: URL
    /// The path given to `slipway --repo`.
    let repo: URL
    let isBare: Bool

    static func with<T>(bare: Bool = false, _ body: (OpsRepoFixture) async throws -> T) async throws -> T {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let fixture: OpsRepoFixture
        if bare {
            let repo = root.appendingPathComponent("ops.git"), work = root.appendingPathComponent("work")
            try Command.git(["init", "--quiet", "--bare", "--initial-branch=main", repo.path], in: root)
            try Command.git(["clone", "--quiet", repo.path, work.path], in: root)
            fixture = OpsRepoFixture(root: root, workTree: work, repo: repo, isBare: true)
        } else {
            let work = root.appendingPathComponent("ops")
            try Command.git(["init", "--quiet", "--initial-branch=main", work.path], in: root)
            fixture = OpsRepoFixture(root: root, workTree: work, repo: work, isBare: false)
        }
        do {
            let result = try await body(fixture)
            fixture.tearDown()
            return result
        } catch {
            fixture.tearDown()
            throw error
        }
    }

    /// Writes a file in the work tree and commits it (pushing it for a bare fixture).
    @discardableResult
    func commit(_ path: String, _ content: String, message: String? = nil) throws -> String {
        let url = workTree.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(content.utf8).write(to: url)
        // A daemon may be committing a record in this clone: like a person, try again while it holds git's locks.
        for attempt in 1...100 {
            do {
                try Command.git(["add", path], in: workTree)
                try Command.git(["commit", "--quiet", "-m", message ?? "Change \(path)"], in: workTree)
                break
            } catch let failure as TestFailure where attempt < 100 && ["index.lock", "cannot lock ref"].contains(where: failure.description.contains) {
                continue
            }
        }
        if isBare { try Command.git(["push", "--quiet", "origin", "HEAD:main"], in: workTree) }
        return try git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// git in the repository Slipway works on.
    @discardableResult
    func git(_ arguments: [String], input: Data? = nil) throws -> String {
        try Command.git(isBare ? ["--git-dir", repo.path] + arguments : arguments, in: isBare ? root : workTree, input: input)
    }

    func slipway(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        guard let command = arguments.first else { return try Command.slipway(["--repo", repo.path]) }
        return try Command.slipway([command, "--repo", repo.path] + arguments.dropFirst(), environment: environment)
    }

    /// Path of the record the commit at HEAD added.
    func lastRecordPath() throws -> String {
        try git(["show", "--name-only", "--format=", "HEAD"]).split(separator: "\n").map(String.init)
            .first { $0.hasPrefix("Deployments/") } ?? ""
    }

    /// The record the commit at HEAD added, read back from its front matter.
    func lastRecord() throws -> DeploymentRecord {
        try RecordTemplates.parseRecord(try git(["show", "HEAD:\(try lastRecordPath())"]))
    }

    var stateDirectory: URL { (isBare ? repo : workTree.appendingPathComponent(".git")).appendingPathComponent("slipway") }

    /// Instances registered for an environment.
    func instances(_ env: String) -> [InstanceRecord] {
        InstanceRegistry(file: stateDirectory.appendingPathComponent("envs/\(env)/instances.json")).load()
    }

    /// Versions of the instance processes alive for `env` on this machine, registered or not.
    func liveVersions(_ env: String) -> [String] {
        ProcessControl.processes(withEnvironment: ["SLIPWAY_STATE=\(stateDirectory.path)", "SLIPWAY_ENV=\(env)"])
            .compactMap { $0.environment["SLIPWAY_VERSION"] }.sorted()
    }

    /// Stops everything Slipway started for this repo, then removes the temp dir: a daemon a
    /// failed test left running first (it holds the lock `down` needs).
    func tearDown() {
        for pid in ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap({ Int32($0) }) {
            guard let raw = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { continue }
            let arguments = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if arguments.first == Command.slipway.path, arguments.contains("watch"), arguments.contains(repo.path) {
                kill(pid, SIGKILL)
                waitpid(pid, nil, 0)
            }
        }
        defer {
            // ssh connection masters Slipway opened for a fleet (they name their control socket, under the state directory).
            for pid in ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap({ Int32($0) }) {
                guard let raw = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { continue }
                let arguments = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                if arguments.first?.hasPrefix("ssh") == true, arguments.contains(where: { $0.contains(root.path) }) { kill(pid, SIGKILL) }
            }
        }
        let result = try? Command.slipway(["down", "--repo", repo.path])
        if result?.status != 0 {
            // Fall back to the registries and pid files directly.
            let envs = (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory.appendingPathComponent("envs").path)) ?? []
            for env in envs {
                for instance in instances(env) { kill(instance.process.pid, SIGKILL) }
                let pidFile = stateDirectory.appendingPathComponent("envs/\(env)/haproxy/haproxy.pid")
                if let pid = (try? String(contentsOf: pidFile, encoding: .utf8)).flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                    kill(pid, SIGKILL)
                }
            }
        }
        // A test's own filesystems (a small tmpfs as the state directory) go before the files.
        let mounts = ((try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? "").split(separator: "\n")
            .compactMap { $0.split(separator: " ").dropFirst().first.map(String.init) }.filter { $0.hasPrefix(root.path + "/") }
        for mount in mounts.sorted().reversed() { _ = try? Command.run(URL(fileURLWithPath: "/usr/bin/umount"), ["--lazy", mount]) }
        try? FileManager.default.removeItem(at: root)
    }

    /// Puts the state directory on a tmpfs of `megabytes` (tests run as root); `tearDown` unmounts it.
    func stateOnSmallFilesystem(megabytes: Int) throws {
        try FileManager.default.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
        let mounted = try Command.run(URL(fileURLWithPath: "/usr/bin/mount"), ["-t", "tmpfs", "-o", "size=\(megabytes)m,mode=0700", "slipway-test", stateDirectory.path])
        guard mounted.status == 0 else { throw TestFailure("mount tmpfs: \(mounted.output)") }
    }
}

/// A manifest for tests: the demo service, fast health checks, a free port.
func testManifest(version: String, replicas: Int = 2, listen: Int, batchSize: Int = 1, extraArguments: [String] = [],
                  secrets: String = "", startTimeout: String = "10s", upstream: String? = nil,
                  strategy: String? = nil, rollback: String = "") -> String {
    let arguments = (["slipway-demo-service", "--port", "{port}", "--version", "{version}"] + extraArguments)
        .map { "\"\($0)\"" }.joined(separator: ", ")
    return """
        service: web
        version: "\(version)"
        \(upstream.map { "upstream: \($0)" } ?? "")
        run:
          command: [\(arguments)]
          replicas: \(replicas)
          stopTimeout: 2s
        \(secrets)
        traffic: { listen: "127.0.0.1:\(listen)" }
        health:
          http: { path: /healthz, expect: 200 }
          interval: 200ms
          timeout: 500ms
          healthyThreshold: 1
          startTimeout: \(startTimeout)
        strategy:
          \(strategy ?? "rolling: { batchSize: \(batchSize) }")
        \(rollback)

        """
}

/// GET through a front, nil when nothing answers.
func fetch(_ port: Int, _ path: String = "/") -> HTTPProbe.Response? {
    try? RawHTTP.get(host: "127.0.0.1", port: port, path: path)
}
