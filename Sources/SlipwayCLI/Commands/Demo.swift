import ArgumentParser
import Foundation
import SlipwayDaemon
import SlipwayBundle
import SlipwayEngine
import SlipwayGit
import SlipwayManifest
import SlipwayRecords
import SlipwayHost
import Synchronization
import SlipwayCore

extension Slipway {
    struct Demo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "demo",
            abstract: "The whole story on a throw-away ops repo, with the daemon: release, canary, an automatic rollback, a revert.")

        @Flag(name: .long, help: "Keep the ops repo and leave its instances running (take them down with slipway down).")
        var keep = false

        @Option(name: .long, help: "Log level of Slipway's own log on stderr.")
        var logLevel: GlobalOptions.LogLevel = .warning

        static let person = Signature(name: "Dana Developer", email: "dana@example.com")

        func run() async throws {
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-demo-\(UUID().uuidString.prefix(8))")
            var global = try GlobalOptions.parse(["--repo", root.path])
            global.logLevel = logLevel
            let secret = "demo-secret-\(UUID().uuidString)"
            var daemon: ProcessIdentity?
            var load: DemoLoad?
            defer { load?.stop() }
            do {
                try await story(root: root, global: global, secret: secret, daemon: &daemon, load: &load)
            } catch {
                await cleanUp(root: root, daemon: daemon)
                throw error
            }
            await cleanUp(root: root, daemon: daemon)
        }

        func story(root: URL, global: GlobalOptions, secret: String, daemon: inout ProcessIdentity?, load: inout DemoLoad?) async throws {
            narrate("1. slipway init \(root.path), then slipway watch — the daemon — on it")
            try await Scaffold.create(at: root.path, author: Self.person)
            let repository = try await global.openRepository()
            let ports = ["staging": try Ports.free(), "production": try Ports.free()]
            try await commit(repository, "Environments/staging.yaml",
                             Self.staging(Defaults.environments["staging.yaml"] ?? "", port: ports["staging"] ?? 0), "Serve staging on a free port")
            daemon = try startDaemon(root: root, secret: secret)
            load = DemoLoad(port: ports["production"] ?? 0)

            narrate("2. Dana commits production 1.0.0 — the daemon ships it through staging, then production")
            try await release(repository, "1.0.0", ports: ports, expect: .succeeded)

            narrate("3. Dana changes production to 1.1.0 — Slipway promotes it to staging, then ships it by canary 25% → 50% → 100%")
            let good = try await release(repository, "1.1.0", ports: ports, expect: .succeeded)

            narrate("4. Dana ships a bad 1.2.0 (30% of requests fail) — the canary catches it and all traffic goes back")
            try await release(repository, "1.2.0", ports: ports, arguments: ["--error-rate", "0.3"], expect: .rolledBack)
            print("   Slipway committed the revert (onFailure: revert): \(try await awaitRevert(repository))")

            narrate("5. Dana rolls back 1.1.0 with git revert — the daemon puts 1.0.0 back")
            let before = try await repository.history(of: EnvironmentName("production"), limit: 1).first?.deployment
            let previous = try await repository.git.readFile("Environments/production.yaml", at: good.parents.first ?? good.id) ?? Data()
            _ = try await repository.git.commit([FileUpdate(path: "Environments/production.yaml", content: previous)],
                message: "Revert \"\(good.subject)\"\n\nThis reverts commit \(good.id.hex).\n", author: Self.person, onto: repository.branch)
            try await awaitRecord(repository, after: before, expect: .rolledBack, port: ports["production"] ?? 0)

            if let load { print("   load client: \(load.summary)") }
            narrate("6. slipway history — deployments read back from the record files in git")
            for entry in try await repository.history() {
                print("   \(entry.environment.padding(toLength: 10, withPad: " ", startingAt: 0)) \(entry.service) \(entry.previousVersion) → \(entry.version)  \(entry.result?.rawValue ?? "?")  \(entry.deployment)")
            }
            narrate("7. git log --stat — every deployment, promotion, rollback and revert is a commit")
            await runGit(["-C", root.path, "log", "--stat", "--format=%n%h %an: %s"])

            let leaks = secretLeaks(root: root, secret: secret)
            narrate("8. The secret given as env:WEB_DB_PASSWORD appears in \(leaks) file(s) of the ops repo")
            guard leaks == 0 else { throw ExitCode(1) }
        }

        /// Commits production at `version` as Dana and waits for the daemon's record.
        @discardableResult
        func release(_ repository: OpsRepository, _ version: String, ports: [String: Int], arguments: [String] = [],
                     expect: SlipwayCore.DeploymentResult) async throws -> CommitInfo {
            let before = try await repository.history(of: EnvironmentName("production"), limit: 1).first?.deployment
            let commit = try await commit(repository, "Environments/production.yaml",
                                          Self.production(version: version, port: ports["production"] ?? 0, arguments: arguments), "Release web \(version)")
            try await awaitRecord(repository, after: before, expect: expect, port: ports["production"] ?? 0)
            return try await repository.git.commitInfo(commit)
        }

        func awaitRecord(_ repository: OpsRepository, after previous: DeploymentID?, expect: SlipwayCore.DeploymentResult, port: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(90)
            while ContinuousClock.now < deadline {
                if let entry = try await repository.history(of: EnvironmentName("production"), limit: 1).first, entry.deployment != previous {
                    print("   production: \(entry.previousVersion) → \(entry.version) \(entry.result?.rawValue ?? "?") (\(entry.deployment))")
                    let answer = (try? await HTTPProbe.get(host: "127.0.0.1", port: port, path: "/"))?.body ?? "no answer"
                    print("   curl http://127.0.0.1:\(port)/ → \(answer.trimmingCharacters(in: .whitespacesAndNewlines))")
                    guard entry.result == expect else {
                        throw ValidationError("demo: expected \(expect.rawValue), got \(entry.result)")
                    }
                    return
                }
                try await Task.sleep(for: .milliseconds(100))  // polling git for the daemon's record commit
            }
            throw ValidationError("demo: no production record within 90 s")
        }

        /// The subject of the revert the daemon commits right after a rolled-back record.
        func awaitRevert(_ repository: OpsRepository) async throws -> String {
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                let subject = try await repository.git.commitInfo(try await repository.tip()).subject
                if subject.hasPrefix("revert(production)") { return subject }
                try await Task.sleep(for: .milliseconds(50))  // polling git for the daemon's next commit
            }
            throw ValidationError("demo: no revert commit within 20 s")
        }

        @discardableResult
        func commit(_ repository: OpsRepository, _ path: String, _ text: String, _ message: String) async throws -> ObjectID {
            try await repository.git.commit([FileUpdate(path: path, content: Data(text.utf8))], message: message + "\n",
                                            author: Self.person, onto: repository.branch)
        }

        static func staging(_ text: String, port: Int) -> String {
            text.replacingOccurrences(of: "127.0.0.1:18080", with: "127.0.0.1:\(port)")
                .replacingOccurrences(of: "interval: 1s", with: "interval: 250ms")
        }

        static func production(version: String, port: Int, arguments: [String]) -> String {
            let argv = (["slipway-demo-service", "--port", "{port}", "--version", "{version}"] + arguments).map { "\"\($0)\"" }.joined(separator: ", ")
            return """
                # Desired state of production. Release = commit a change here; roll back = git revert it.
                service: web
                version: "\(version)"
                upstream: staging              # this version runs in staging first (Slipway promotes it)
                run:
                  command: [\(argv)]
                  secrets: { DB_PASSWORD: env:WEB_DB_PASSWORD }
                  replicas: 3
                traffic: { listen: "127.0.0.1:\(port)" }
                health: { http: { path: /healthz, expect: 200 }, interval: 250ms, healthyThreshold: 2 }
                strategy:
                  canary: { steps: [25, 50, 100], stepDuration: 2s, analysisInterval: 1s }
                rollback: { errorRateIncrease: 5%, minRequests: 20, onFailure: revert }

                """
        }

        /// `slipway watch` as its own process, as it would run under systemd.
        func startDaemon(root: URL, secret: String) throws -> ProcessIdentity {
            guard let binary = GlobalOptions.ownDirectory?.appendingPathComponent("slipway") else { throw ValidationError("where is slipway?") }
            let log = root.appendingPathComponent(".git/slipway/daemon.log")
            var environment = ProcessInfo.processInfo.environment.filter { ["PATH", "HOME", "LANG", "TMPDIR"].contains($0.key) }
            environment["WEB_DB_PASSWORD"] = secret
            let spec = LaunchSpec(arguments: ["slipway", "watch", "--repo", root.path, "--poll", "500ms", "--log-level", logLevel.rawValue],
                                  environment: environment, workingDirectory: root, logFile: log)
            print("   daemon log: \(log.path)")
            return try ProcessControl.spawn(spec, executable: binary)
        }

        func secretLeaks(root: URL, secret: String) -> Int {
            let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
            return files.filter { !$0.path.contains("/.git/") }.filter { url in
                (try? String(contentsOf: url, encoding: .utf8))?.contains(secret) == true
            }.count
        }

        func cleanUp(root: URL, daemon: ProcessIdentity?) async {
            if let daemon { await ProcessControl.stop(daemon, timeout: .seconds(30)) }
            if keep {
                narrate("Kept \(root.path); take it down with: slipway down --repo \(root.path)")
                return
            }
            let state = StateDirectory(root: root.appendingPathComponent(".git/slipway"))
            for name in state.knownEnvironments() { _ = await state.takeDown(name, variables: ProcessInfo.processInfo.environment, logger: .init(label: "slipway")) }
            try? FileManager.default.removeItem(at: root)
            narrate("Stopped the daemon and took the demo down: no instance or HAProxy left, \(root.lastPathComponent) removed")
        }

        func narrate(_ text: String) { print("\n== \(text)") }

        func runGit(_ arguments: [String]) async {
            let git = ExecutableResolver.standard().resolve("git", in: URL(fileURLWithPath: "/"))
            let output = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("slipway-demo-git-\(getpid()).log")
            defer { try? FileManager.default.removeItem(at: output) }
            let spec = LaunchSpec(arguments: ["git"] + arguments, environment: ProcessInfo.processInfo.environment,
                                  workingDirectory: URL(fileURLWithPath: "/"), logFile: output)
            guard let git, let result = try? await Commands.output(of: spec, executable: git, timeout: .seconds(30)) else {
                return print("   (git is not installed)")
            }
            print(result.text, terminator: "")
        }
    }
}

/// Steady requests to the demo's production front, so the canary has traffic to judge.
final class DemoLoad: Sendable {
    private let counts = Mutex<(ok: Int, failed: Int)>((0, 0))
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(port: Int) {
        task.withLock { $0 = Task { [self] in
            while !Task.isCancelled {
                let status = (try? await HTTPProbe.get(host: "127.0.0.1", port: port, path: "/", timeout: .seconds(2)))?.status
                counts.withLock { if status == 200 { $0.ok += 1 } else if status != nil { $0.failed += 1 } }
                try? await Task.sleep(for: .milliseconds(5))
            }
        } }
    }

    func stop() { task.withLock { $0?.cancel() } }
    var summary: String { counts.withLock { "\($0.ok + $0.failed) requests to production, \($0.failed) answered 5xx" } }
}
