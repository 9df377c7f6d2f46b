import Foundation
import Testing
@testable import SlipwayEngine
@testable import SlipwayHost

@Suite("slipway commands: validate, plan, secrets, rollout recovery, demo", .serialized)
struct CommandLineTests {
    @Test("validate checks the tip, a --ref, or the index with --staged; errors exit 1 as path:line:col")
    func validate() async throws {
        try await OpsRepoFixture.with { ops in
            let good = testManifest(version: "1.0.0", listen: 18_081)
            try ops.commit("Environments/staging.yaml", good)
            let ok = try ops.slipway(["validate"])
            #expect(ok.status == 0 && ok.stdout.contains("1 manifest(s) valid: staging"), "\(ok.output)")

            try ops.commit("Environments/staging.yaml", good.replacingOccurrences(of: "interval: 200ms", with: "interval: soon"))
            let bad = try ops.slipway(["validate"])
            #expect(bad.status == 1)
            #expect(bad.stdout == "Environments/staging.yaml:12:13: health.interval must be a duration such as 500ms, 10s, 15m or 1h\n")
            #expect(try ops.slipway(["validate", "--ref", "HEAD~1"]).status == 0)

            // Staged but not committed: --staged sees it, the tip does not.
            let url = ops.workTree.appendingPathComponent("Environments/production.yaml")
            try Data("service: web\nversion: \"1\"\nrun: { command: [web] }\ntraffic: { listen: \"127.0.0.1:1\" }\nstrategy: { canary: {}, rolling: {} }\n".utf8).write(to: url)
            try ops.git(["add", "Environments/production.yaml"])
            let staged = try ops.slipway(["validate", "--staged"])
            #expect(staged.status == 1)
            #expect(staged.stdout.contains("Environments/production.yaml:5:11: strategy must name exactly one of rolling, canary, blueGreen"), "\(staged.output)")

            #expect(try ops.slipway(["validate", "--staged", "--ref", "HEAD"]).status == 2)
            #expect(try ops.slipway(["plan", "Not_An_Env"]).status == 2)
        }
    }

    @Test("validate checks Notifications/all.yaml as the daemon reads it: at the tip, a --ref and in the index")
    func validateNotifications() async throws {
        try await OpsRepoFixture.with { ops in
            try ops.commit("Environments/staging.yaml", testManifest(version: "1.0.0", listen: 18_081))
            try ops.commit("Notifications/all.yaml", "notify:\n  - { name: team, webhook: env:HOOK_URL, events: [succeeded] }\n")
            let ok = try ops.slipway(["validate"])
            #expect(ok.status == 0, "\(ok.output)")

            try ops.commit("Notifications/all.yaml", "notify:\n  - { name: team, webhook: env:HOOK_URL, events: [landed] }\n")
            let bad = try ops.slipway(["validate"])
            #expect(bad.status == 1 && bad.stdout.hasPrefix("Notifications/all.yaml:2:"), "\(bad.output)")
            #expect(bad.stderr.contains("1 problem(s) in 1 file(s)"), "\(bad.output)")
            #expect(try ops.slipway(["validate", "--ref", "HEAD~1"]).status == 0)

            try Data("notify: [".utf8).write(to: ops.workTree.appendingPathComponent("Notifications/all.yaml"))
            try ops.git(["add", "Notifications/all.yaml"])
            let staged = try ops.slipway(["validate", "--staged"])
            #expect(staged.status == 1 && staged.stdout.hasPrefix("Notifications/all.yaml:2:1: malformed YAML"), "\(staged.output)")
        }
    }

    @Test("secrets given as env:NAME never appear in records, status, plan output, git history or Slipway's logs")
    func secretsAreNeverWritten() async throws {
        try await OpsRepoFixture.with { ops in
            let secret = "s3cr3t-\(UUID().uuidString)"
            let environment = ["TEST_DB_SECRET": secret]
            let port = try Ports.free()
            let secrets = "  secrets: { DB_PASSWORD: env:TEST_DB_SECRET }"
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port, secrets: secrets))
            var outputs: [String] = []
            let applied = try ops.slipway(["apply", "--log-level", "trace"], environment: environment)
            #expect(applied.status == 0, "\(applied.output)")
            outputs.append(applied.output)

            // The next version prints its secret and crashes: its log tail goes into the record.
            try ops.commit("Environments/production.yaml", testManifest(
                version: "2.0.0", listen: port, extraArguments: ["--log-env", "DB_PASSWORD", "--crash-at-start"], secrets: secrets))
            for arguments in [["plan"], ["plan", "--json"], ["apply", "--log-level", "trace"], ["status", "--json"], ["history", "--json"]] {
                let result = try ops.slipway(arguments, environment: environment)
                outputs.append(result.output)
            }
            #expect(outputs[3].contains("DB_PASSWORD=***"), "the log tail should show the redacted secret: \(outputs[3])")

            let history = try ops.git(["log", "-p", "--all"])
            #expect(history.contains("DB_PASSWORD=***"))
            for (index, text) in (outputs + [history]).enumerated() {
                #expect(!text.contains(secret), "secret value found in output \(index)")
            }
            // Slipway's own state (registry, HAProxy config) — not the instances' own logs.
            let state = FileManager.default.enumerator(at: ops.stateDirectory, includingPropertiesForKeys: nil)?
                .compactMap { $0 as? URL }.filter { !$0.path.contains("/logs/") } ?? []
            for file in state {
                #expect((try? String(contentsOf: file, encoding: .utf8))?.contains(secret) != true, "secret value in \(file.path)")
            }
            // It did reach the process that needed it: the crashed instance printed it to its own log.
            let logs = FileManager.default.enumerator(at: ops.stateDirectory.appendingPathComponent("envs/production/logs"), includingPropertiesForKeys: nil)?
                .compactMap { $0 as? URL } ?? []
            #expect(logs.contains { (try? String(contentsOf: $0, encoding: .utf8))?.contains("DB_PASSWORD=\(secret)") == true })
        }
    }

    @Test("a PEM key an app prints and a token it prints in two writes reach no record, history or output of Slipway")
    func multiLineSecrets() async throws {
        try await OpsRepoFixture.with { ops in
            let key = (["-----BEGIN PRIVATE KEY-----"] + (0..<8).map { _ in UUID().uuidString + UUID().uuidString.prefix(28) } + ["-----END PRIVATE KEY-----"])
                .joined(separator: "\n")
            let token = "tok-" + UUID().uuidString
            let port = try Ports.free()
            let app = ops.root.appendingPathComponent("leaky.sh")
            try Data("""
                #!/bin/sh
                printf 'loaded %s\\n' "$TLS_KEY"
                printf 'token begins %.16s' "$API_TOKEN"; printf '\\nsomething else\\n'; printf '%s ends\\n' "${API_TOKEN#????????????????}"
                exec "\(Command.productsDirectory.appendingPathComponent("slipway-demo-service").path)" "$@"

                """.utf8).write(to: app)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: app.path)
            let secrets = "  secrets: { TLS_KEY: env:TEST_TLS_KEY, API_TOKEN: env:TEST_API_TOKEN }"
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port, extraArguments: ["--crash-at-start"], secrets: secrets)
                .replacingOccurrences(of: "\"slipway-demo-service\"", with: "\"\(app.path)\""))
            let applied = try ops.slipway(["apply"], environment: ["TEST_TLS_KEY": key, "TEST_API_TOKEN": token])
            #expect(applied.status == 1 && applied.output.contains("token begins ***"), "\(applied.output)")
            let history = try ops.git(["log", "-p", "--all"])
            #expect(history.contains("loaded ***") && history.contains("*** ends"), "\(history)")
            let pieces = key.split(separator: "\n").map(String.init) + [String(token.prefix(16)), String(token.dropFirst(16))]
            for text in [applied.output, history] {
                for piece in pieces { #expect(!text.contains(piece), "\(piece) leaked") }
            }
            let logs = FileManager.default.enumerator(at: ops.stateDirectory.appendingPathComponent("envs/production/logs"), includingPropertiesForKeys: nil)?
                .compactMap { $0 as? URL } ?? []
            #expect(logs.contains { (try? String(contentsOf: $0, encoding: .utf8))?.contains(key) == true }, "the app itself had the key")
        }
    }

    @Test("small things say what is wrong in one sentence: timer bounds, line breaks in values, .yml files, programs, empty secrets, folders")
    func sentences() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/qa.yaml", testManifest(version: "1.0.0", listen: port).replacingOccurrences(of: "interval: 200ms", with: "interval: 597h"))
            try ops.commit("Environments/staging.yml", "service: web\n")
            try ops.commit("Environments/dev.yaml", "service: web\nversion: \"1\"\n\"bad\\nkey\": 1\n")
            let validate = try ops.slipway(["validate"])
            #expect(validate.status == 1)
            let lines = validate.stdout.split(separator: "\n")
            #expect(lines.count == 5 && lines.allSatisfy { $0.hasPrefix("Environments/") }, "one line per problem: \(validate.stdout)")
            #expect(validate.stdout.contains("Environments/qa.yaml:12:13: health.interval must be at most 24h"), "\(validate.stdout)")
            #expect(validate.stdout.contains("Environments/staging.yml:1:1: not read: manifests are .yaml files; rename it to staging.yaml"), "\(validate.stdout)")
            #expect(validate.stdout.contains("unknown key \"bad\\nkey\""), "\(validate.stdout)")
            let missing = try ops.slipway(["validate", "--dir", ops.root.appendingPathComponent("nowhere").path])
            #expect(missing.status == 1 && missing.stderr.contains("nowhere: no such file or directory") && !missing.stderr.contains("NSCocoaErrorDomain"), "\(missing.output)")
            try ops.git(["rm", "--quiet", "Environments/staging.yml", "Environments/dev.yaml"])
            try ops.git(["commit", "--quiet", "-m", "only qa"])

            let script = ops.root.appendingPathComponent("app.sh")
            try Data("#!/bin/sh\n".utf8).write(to: script)  // there, but not executable
            let cases: [(manifest: String, environment: [String: String], says: String)] = [
                (testManifest(version: "1.0.0", listen: port).replacingOccurrences(of: "\"slipway-demo-service\"", with: "\"\(script.path)\""), [:],
                 "run.command: \(script.path) is not executable"),
                (testManifest(version: "1.0.0", listen: port, secrets: "  secrets: { DB: env:TEST_EMPTY }"), ["TEST_EMPTY": ""],
                 "secret DB: TEST_EMPTY is set but empty"),
                (testManifest(version: "1.0.0", listen: port).replacingOccurrences(of: "  stopTimeout: 2s", with: "  stopTimeout: 2s\n  workingDirectory: \(ops.root.path)/made-up/dir"), [:],
                 "run.workingDirectory \(ops.root.path)/made-up/dir (\(ops.root.path)/made-up/dir) is not a folder on this machine"),
            ]
            for (index, item) in cases.enumerated() {
                try ops.commit("Environments/qa.yaml", item.manifest.replacingOccurrences(of: "1.0.0", with: "1.0.\(index)"))
                let apply = try ops.slipway(["apply"], environment: item.environment)
                #expect(apply.status == 1 && apply.stderr.contains(item.says), "\(apply.output)")
            }
            #expect(!FileManager.default.fileExists(atPath: ops.root.appendingPathComponent("made-up").path), "no folder is made for a manifest")
            #expect(ops.instances("qa").isEmpty)
        }
    }

    @Test("when a later batch never gets healthy, the previous version is started again and the new one removed")
    func laterBatchFails() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 2, listen: port))
            #expect(try ops.slipway(["apply"]).status == 0)

            // Instances of 2.0.0 fail their health check from the second one on (the demo service reads
            // DEMO_FAIL_HEALTH; the wrapper turns it on for every instance but the first).
            let wrapper = ops.root.appendingPathComponent("second-fails.sh")
            let marker = ops.root.appendingPathComponent("started-once")
            try Data("""
                #!/bin/sh
                if [ -e "\(marker.path)" ]; then export DEMO_FAIL_HEALTH=1; else touch "\(marker.path)"; fi
                exec "\(Command.productsDirectory.appendingPathComponent("slipway-demo-service").path)" "$@"

                """.utf8).write(to: wrapper)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper.path)
            let manifest = testManifest(version: "2.0.0", replicas: 2, listen: port, startTimeout: "2s")
                .replacingOccurrences(of: "\"slipway-demo-service\"", with: "\"\(wrapper.path)\"")
            try ops.commit("Environments/production.yaml", manifest)

            let load = LoadClient(port: port)
            let result = try ops.slipway(["apply"])
            let traffic = load.stop()
            #expect(result.status == 1, "\(result.output)")
            #expect(traffic.failed == 0, "\(traffic.errors.prefix(3))")
            let instances = ops.instances("production")
            #expect(instances.count == 2 && instances.allSatisfy { $0.version == "1.0.0" && $0.isRunning }, "\(instances)")
            #expect(fetch(port)?.body == "web 1.0.0\n")
            let record = try ops.lastRecord()
            #expect(record.phases.flatMap(\.steps).contains { $0.name == "restore previous version" && $0.outcome == .passed }, "\(record.phases)")
            // The wait said what it waited for, in plain words, while it waited and in the record.
            #expect(result.stderr.contains("waiting for GET /healthz → 200: 0/1 healthy; last check"), "\(result.stderr)")
            #expect(record.reason?.contains("(last check: ") == true && record.reason?.contains("HTTP 503") == true, "\(record.reason ?? "")")
            #expect(record.reason?.contains("L7STS") == false)
        }
    }

    @Test("exit statuses: 0 for --help and --version, 2 for usage errors, 1 when the thing fails")
    func exitStatuses() throws {
        let help = try Command.slipway(["--help"])
        #expect(help.status == 0 && help.stdout.hasPrefix("OVERVIEW:") && help.stderr.isEmpty, "\(help.output)")
        #expect(try Command.slipway(["apply", "--help"]).status == 0)
        #expect(try Command.slipway(["--version"]).stdout == "0.1.0\n")
        #expect(try Command.slipway(["nonsense"]).status == 2)
        #expect(try Command.slipway(["history", "--limit", "0"]).status == 2)
        let missing = try Command.slipway(["plan", "--repo", "/nonexistent/ops"])
        #expect(missing.status == 1 && missing.stderr.hasPrefix("error: git: cannot open a git repository at /nonexistent/ops"))
    }

    @Test("apply refuses with a clear message while another slipway holds the repository")
    func lock() async throws {
        try await OpsRepoFixture.with { ops in
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: try Ports.free()))
            let held = try RepositoryLock(file: ops.stateDirectory.appendingPathComponent("lock"))
            let refused = try ops.slipway(["apply"])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("another slipway (pid \(getpid())) is working on this repository"), "\(refused.stderr)")
            #expect(ops.instances("production").isEmpty)
            // down would be undone by a running daemon (it keeps what runs as git says): refused while one holds the repository.
            let down = try ops.slipway(["down", "production"])
            #expect(down.status == 1 && down.stderr.contains("stop the daemon first"), "\(down.output)")
            withExtendedLifetime(held) {}
        }
    }

    @Test("status and approve say what is true: a reverted failure is history, a broken manifest does not hide what serves, an approval nobody asked for is refused")
    func statusAndApprove() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            #expect(try ops.slipway(["apply"]).status == 0)
            let bad = try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", listen: port, extraArguments: ["--crash-at-start"]))
            #expect(try ops.slipway(["apply"]).status == 1)
            #expect(try ops.slipway(["status"]).stdout.contains("desired 2.0.0 failed"))
            try Command.git(["revert", "--no-edit", bad], in: ops.workTree)
            let reverted = try ops.slipway(["status"])
            #expect(!reverted.stdout.contains("desired 2.0.0 failed"), "\(reverted.output)")

            let approve = try ops.slipway(["approve", "production", "--by", "Alex <alex@example.com>"])
            #expect(approve.status == 1 && approve.stderr.contains("nothing in production waits for an approval"), "\(approve.output)")

            try ops.commit("Environments/production.yaml", "service: web\nversion: [broken\n")
            let broken = try ops.slipway(["status"])
            #expect(broken.stdout.contains("production: web 1.0.0") && broken.stdout.contains("no valid Environments/production.yaml at the tip"), "\(broken.output)")
        }
    }

    @Test("a name that is no environment is an error, not a quiet success: status, down")
    func unknownEnvironment() async throws {
        try await OpsRepoFixture.with { ops in
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: try Ports.free()))
            for command in [["status", "nosuch"], ["down", "nosuch"]] {
                let result = try ops.slipway(command)
                #expect(result.status == 1 && result.stderr.contains("no environment nosuch"), "\(command): \(result.output)")
            }
            #expect(!FileManager.default.fileExists(atPath: ops.stateDirectory.appendingPathComponent("envs/nosuch").path))
            #expect(try ops.slipway(["status", "production"]).status == 0)
        }
    }

    @Test("slipway demo tells the whole story through the daemon and leaves nothing behind")
    func demo() throws {
        let result = try Command.slipway(["demo"], environment: [:])
        #expect(result.status == 0, "\(result.output.suffix(3000))")
        #expect(result.stdout.contains("production: 1.0.0 → 1.1.0 succeeded"))
        #expect(result.stdout.contains("production: 1.1.0 → 1.2.0 rolled-back"))
        #expect(result.stdout.contains("Slipway committed the revert (onFailure: revert): revert(production): web 1.2.0 → 1.1.0"))
        #expect(result.stdout.contains("production: 1.1.0 → 1.0.0 rolled-back"))
        #expect(result.stdout.contains("curl http://127.0.0.1:") && result.stdout.contains("→ web 1.0.0"))
        #expect(result.stdout.contains("appears in 0 file(s)"))
        let line = result.stdout.split(separator: "\n").first { $0.contains("slipway init ") } ?? ""
        let directory = String(line.split(separator: " ").dropFirst(4).first ?? "").trimmingCharacters(in: CharacterSet(charactersIn: ","))
        #expect(directory.hasPrefix("/"), "\(line)")
        #expect(!directory.isEmpty && !FileManager.default.fileExists(atPath: directory), "\(directory)")
        let daemons = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        let leftover = daemons.compactMap { Int32($0) }.filter { pid in
            let cmdline = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            return cmdline.contains(directory) && ProcessControl.startTime(of: pid) != nil
        }
        #expect(leftover.isEmpty, "processes of the demo still running: \(leftover)")
    }
}
