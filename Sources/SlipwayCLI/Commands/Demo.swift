import ArgumentParser
import Foundation
import SlipwayDefaults
import SlipwayEngine
import SlipwayGit
import SlipwayRuntime

extension Slipway {
    struct Demo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The end-to-end story on a throw-away ops repo: release 1.0.0, roll out 1.1.0, read the history.")

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
            do {
                try await story(root: root, global: global, secret: secret)
            } catch {
                await cleanUp(root: root, global: global)
                throw error
            }
            await cleanUp(root: root, global: global)
        }

        func story(root: URL, global: GlobalOptions, secret: String) async throws {
            narrate("1. slipway init \(root.path)")
            try await Scaffold.create(at: root.path, author: Self.person)
            let repository = try await global.openRepository()
            let engine = global.engine(repository, progress: ProgressDisplay(),
                                       environment: ProcessInfo.processInfo.environment.merging(["WEB_DB_PASSWORD": secret]) { _, new in new })
            let ports = ["staging": try Ports.free(), "production": try Ports.free()]

            narrate("2. Dana commits the manifests for version 1.0.0 (free ports for this demo) and runs slipway apply")
            try await commitManifests(repository, version: "1.0.0", ports: ports, message: "Release web 1.0.0")
            try await applyAndShow(engine, ports: ports)

            narrate("3. Dana releases 1.1.0 by changing version: in both manifests; slipway plan shows the change")
            try await commitManifests(repository, version: "1.1.0", ports: ports, message: "Release web 1.1.0")
            Slipway.Plan.printText(try await engine.planner.plan())
            narrate("   slipway apply rolls it out one instance at a time (rolling, batchSize 1)")
            try await applyAndShow(engine, ports: ports)

            narrate("4. slipway history — deployments read back from commit trailers")
            for entry in try await repository.history() {
                print("   \(entry.environment)  \(entry.service) \(entry.previousVersion) → \(entry.version)  \(entry.result)  \(entry.deployment)")
            }
            narrate("5. git log --stat — every deployment is a commit with a record")
            runGit(["-C", root.path, "log", "--stat", "--format=%n%h %an: %s%n%(trailers:key=Slipway-Result,key=Slipway-Deployment)"])

            let leaks = try secretLeaks(root: root, secret: secret)
            narrate("6. The secret given as env:WEB_DB_PASSWORD appears in \(leaks) file(s) of the ops repo")
            guard leaks == 0 else { throw ExitCode(1) }
        }

        func commitManifests(_ repository: OpsRepository, version: String, ports: [String: Int], message: String) async throws {
            let files = Defaults.environments.map { name, text in
                let env = String(name.dropLast(".yaml".count))
                let content = text
                    .replacingOccurrences(of: "version: \"1.0.0\"", with: "version: \"\(version)\"")
                    .replacingOccurrences(of: env == "staging" ? "127.0.0.1:18080" : "127.0.0.1:8080", with: "127.0.0.1:\(ports[env] ?? 0)")
                return FileUpdate(path: "Environments/\(name)", content: Data(content.utf8))
            }
            try await repository.git.commit(files, message: message + "\n", author: Self.person, onto: repository.branch)
        }

        func applyAndShow(_ engine: Engine, ports: [String: Int]) async throws {
            let (plan, outcomes) = try await engine.apply()
            guard Slipway.Apply.report(plan: plan, outcomes: outcomes) else { throw ExitCode(1) }
            for (env, port) in ports.sorted(by: { $0.key > $1.key }) {
                let answer = (try? HTTPProbe.get(host: "127.0.0.1", port: port, path: "/"))?.body ?? "no answer"
                print("   curl http://127.0.0.1:\(port)/   (\(env)) → \(answer.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        }

        func secretLeaks(root: URL, secret: String) throws -> Int {
            let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
            return files.filter { !$0.path.contains("/.git/") }.filter { url in
                (try? String(contentsOf: url, encoding: .utf8))?.contains(secret) == true
            }.count
        }

        func cleanUp(root: URL, global: GlobalOptions) async {
            if keep {
                narrate("Kept \(root.path); take it down with: slipway down --repo \(root.path)")
                return
            }
            let state = StateDirectory(root: root.appendingPathComponent(".git/slipway"))
            for name in state.knownEnvironments() { _ = await Slipway.Down.takeDown(name, state: state) }
            try? FileManager.default.removeItem(at: root)
            narrate("Took the demo down: no instance or HAProxy left, \(root.lastPathComponent) removed")
        }

        func narrate(_ text: String) { print("\n== \(text)") }

        func runGit(_ arguments: [String]) {
            fflush(nil)  // our buffered output first, then git's
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["git"] + arguments
            do {
                try process.run()
                process.waitUntilExit()
            } catch {
                print("   (git is not installed: \(error))")
            }
        }
    }
}
