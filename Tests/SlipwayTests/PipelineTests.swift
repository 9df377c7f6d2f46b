import Foundation
import Testing
@testable import SlipwayRecords
@testable import SlipwayHost

@Suite("Pipeline gates, post-deploy and restore", .serialized)
struct PipelineTests {
    @Test("a failing checks gate stops the run before anything starts, naming the gate and its output")
    func failingGate() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            #expect(try ops.slipway(["apply"]).status == 0)
            let before = ops.instances("production")
            let gates = """
                gates:
                  preflight:
                    - { name: ci-passed, command: ["/bin/sh", "-c", "echo checking {commit}; echo 'CI: 2 tests failed'; exit 1"] }
                """
            try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", listen: port, rollback: gates))
            let result = try ops.slipway(["apply"])
            #expect(result.status == 1)
            #expect(result.stderr.contains("gate ci-passed failed (exit 1): checking"), "\(result.stderr)")
            #expect(result.stderr.contains("CI: 2 tests failed"))
            let record = try ops.lastRecord()
            #expect(record.result == .failed)
            #expect(record.phases.first?.name == "pre-flight" && record.phases.first?.outcome == .failed)
            #expect(record.phases.count == 1, "nothing ran after the failing gate")
            #expect(record.logs.first?.lines.contains("CI: 2 tests failed") == true)
            #expect(ops.instances("production").map(\.id) == before.map(\.id))
            #expect(fetch(port)?.body == "web 1.0.0\n")
        }
    }

    @Test("a note gate passes only when refs/notes/ci on the commit says so")
    func noteGate() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let gates = "gates:\n  preflight:\n    - { name: ci, note: { ref: refs/notes/ci, contains: passed } }"
            let commit = try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port, rollback: gates))
            let missing = try ops.slipway(["apply"])
            #expect(missing.status == 1 && missing.stderr.contains("the note refs/notes/ci on \(commit.prefix(7)) is missing"), "\(missing.stderr)")

            try ops.git(["notes", "--ref=ci", "add", "-m", "checks failed", commit])
            let failed = try ops.slipway(["apply", "--retry-failed"])
            #expect(failed.status == 1 && failed.stderr.contains("says \"checks failed\""), "\(failed.stderr)")
            #expect(ops.instances("production").isEmpty)

            try ops.git(["notes", "--ref=ci", "add", "-f", "-m", "checks passed", commit])
            let passed = try ops.slipway(["apply", "--retry-failed"])
            #expect(passed.status == 0, "\(passed.output)")
            #expect(fetch(port)?.body == "web 1.0.0\n")
        }
    }

    @Test("a first deployment whose post-deploy hook fails keeps its set serving, and status says so instead of 'nothing running'")
    func firstDeploymentLeftServing() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port) + "hooks: { postDeploy: [\"/bin/false\"] }\n")
            let result = try ops.slipway(["apply"])
            #expect(result.status == 1, "\(result.output)")
            #expect(try ops.lastRecord().rollback?.afterwards.hasPrefix("nothing to roll back to") == true)
            #expect(fetch(port)?.body == "web 1.0.0\n")
            let status = try ops.slipway(["status", "production"]).stdout
            #expect(status.contains("production: no release has succeeded yet; 1.0.0 serves, left by the last run (2/2 instances running)"), "\(status)")
        }
    }

    @Test("a post-deploy failure rolls back to the previous version and runs restore with the backup's name")
    func postDeployRollbackAndRestore() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            #expect(try ops.slipway(["apply"]).status == 0)
            let restored = ops.root.appendingPathComponent("restored.txt")
            let policy = """
                gates:
                  preflight:
                    - { name: backup, command: ["/bin/sh", "-c", "echo dumping; echo backup-{version}-42"], backup: true }
                  observe: 2s
                rollback:
                  minRequests: 10
                  restore: ["/bin/sh", "-c", "echo \\"$0\\" > \(restored.path); echo restored $0", "{backup}"]
                """
            try ops.commit("Environments/production.yaml", testManifest(
                version: "2.0.0", listen: port, extraArguments: ["--error-rate", "0.3"], rollback: policy))
            let load = LoadClient(port: port)
            let result = try ops.slipway(["apply"])
            _ = load.stop()
            #expect(result.status == 1, "\(result.output)")
            let record = try ops.lastRecord()
            #expect(record.result == .rolledBack, "\(record.reason ?? "")")
            #expect(record.rollback?.trigger == .errorRate)
            #expect(record.reason?.contains("post-deploy observation") == true)
            #expect((try? String(contentsOf: restored, encoding: .utf8)) == "backup-2.0.0-42\n")
            #expect(record.phases.flatMap(\.steps).contains { $0.name == "restore backup-2.0.0-42" && $0.outcome == .passed })
            let instances = ops.instances("production")
            #expect(instances.count == 2 && instances.allSatisfy { $0.version == "1.0.0" && $0.isRunning }, "\(instances)")
            for _ in 0..<5 { #expect(fetch(port)?.body == "web 1.0.0\n") }
        }
    }
}

@Suite("slipway rollback", .serialized)
struct RollbackCommandTests {
    @Test("rollback commits a revert; the next apply switches back to the warm set and records rolled-back with the revert as trigger")
    func rollbackToWarm() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let strategy = "blueGreen: { keepPrevious: 10m }"
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port, strategy: strategy))
            #expect(try ops.slipway(["apply"]).status == 0)
            let blue = Set(ops.instances("production").map(\.id))
            let release = try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", listen: port, strategy: strategy))
            #expect(try ops.slipway(["apply"]).status == 0)

            let rollback = try ops.slipway(["rollback", "production", "--by", "Riley Oncall <riley@example.com>"])
            #expect(rollback.status == 0, "\(rollback.output)")
            #expect(rollback.stdout.contains("committed rollback 2.0.0 → 1.0.0"))
            let revert = try ops.git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
            let message = try ops.git(["log", "-1", "--format=%an|%s|%(trailers:only,unfold)"])
            #expect(message.hasPrefix("Riley Oncall|rollback(production): 2.0.0 → 1.0.0|"), "\(message)")
            #expect(message.contains("Slipway-Reverts: \(release)"))

            let load = LoadClient(port: port)
            let applied = try ops.slipway(["apply"])
            let traffic = load.stop()
            #expect(applied.status == 0, "\(applied.output)")
            #expect(traffic.failed == 0, "\(traffic.errors.prefix(3))")
            let record = try ops.lastRecord()
            #expect(record.result == .rolledBack)
            #expect(record.trigger.hex == revert)
            #expect(record.phases.flatMap(\.steps).contains { $0.name.hasPrefix("reuse the warm set") }, "instant: nothing started")
            #expect(Set(ops.instances("production").filter { $0.warmUntil == nil }.map(\.id)) == blue)
            #expect(fetch(port)?.body == "web 1.0.0\n")

            // Without --by, the commit names who git would: GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL first.
            let again = try ops.slipway(["rollback", "production", "--to", "2.0.0"],
                                        environment: ["GIT_AUTHOR_NAME": "Sam From Env", "GIT_AUTHOR_EMAIL": "sam@example.com"])
            #expect(again.status == 0, "\(again.output)")
            #expect(try ops.git(["log", "-1", "--format=%an <%ae>"]) == "Sam From Env <sam@example.com>\n")
        }
    }

    @Test("rollback --to a version finds that manifest in history")
    func rollbackTo() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            for version in ["1.0.0", "2.0.0", "3.0.0"] {
                try ops.commit("Environments/production.yaml", testManifest(version: version, listen: port))
                #expect(try ops.slipway(["apply"]).status == 0)
            }
            let rollback = try ops.slipway(["rollback", "production", "--to", "1.0.0", "--by", "Riley <riley@example.com>"])
            #expect(rollback.status == 0 && rollback.stdout.contains("3.0.0 → 1.0.0"), "\(rollback.output)")
            #expect(try ops.slipway(["apply"]).status == 0)
            #expect(try ops.lastRecord().result == .rolledBack)
            #expect(fetch(port)?.body == "web 1.0.0\n")
            let missing = try ops.slipway(["rollback", "production", "--to", "9.9.9", "--by", "Riley <riley@example.com>"])
            #expect(missing.status == 1 && missing.stderr.contains("no earlier Environments/production.yaml with version 9.9.9"))
        }
    }
}

extension RollbackCommandTests {
    @Test("rollback after a change that failed while claiming the running version puts back what runs, not the version before it")
    func rollbackUndoesAFailedChange() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            for version in ["0.9.0", "1.0.0"] {
                try ops.commit("Environments/production.yaml", testManifest(version: version, replicas: 1, listen: port))
                #expect(try ops.slipway(["apply"]).status == 0)
            }
            let running = try ops.git(["rev-parse", "HEAD:Environments/production.yaml"])
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: port, extraArguments: ["--crash-at-start"]))
            #expect(try ops.slipway(["apply"]).status == 1)
            let rollback = try ops.slipway(["rollback", "production", "--by", "Riley <riley@example.com>"])
            #expect(rollback.status == 0 && rollback.stdout.contains("1.0.0 → 1.0.0"), "\(rollback.output)")
            #expect(rollback.stdout.contains("1.0.0 never ran here, so this puts back what runs (1.0.0); to go further back, run slipway rollback production again"),
                    "\(rollback.output)")
            #expect(try ops.git(["rev-parse", "HEAD:Environments/production.yaml"]) == running)
            #expect(fetch(port)?.body == "web 1.0.0\n")
        }
    }
}

@Suite("Checklist gate", .serialized)
struct ChecklistTests {
    static let gates = """
        gates:
          checklist: ["DB migration reviewed", "On-call informed"]
          approvalTimeout: 30s
        """

    @Test("a checklist gate waits until slipway approve commits an approval naming its approver, then proceeds")
    func waitsForApproval() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port, rollback: Self.gates))
            let apply = Background(ops, ["apply"])
            #expect(apply.stillRunning(after: 1.5), "apply must wait for the approval")
            #expect(ops.instances("production").isEmpty, "nothing deployed before the approval")

            let approve = try ops.slipway(["approve", "production", "--by", "Alex Approver <alex@example.com>"])
            #expect(approve.status == 0, "\(approve.output)")
            let result = apply.wait()
            #expect(result?.status == 0, "\(result?.output ?? "")")
            #expect(fetch(port)?.body == "web 1.0.0\n")

            let step = try ops.lastRecord().phases.flatMap(\.steps).first { $0.name == "checklist" }
            #expect(step?.detail.hasPrefix("approved by Alex Approver <alex@example.com>") == true, "\(step?.detail ?? "")")
            #expect(step?.detail.hasSuffix("DB migration reviewed; On-call informed") == true)
            let approvals = try ops.git(["log", "--format=%an|%s", "--", "Approvals"])
            #expect(approvals.contains("Alex Approver|approve(production): web 1.0.0"), "\(approvals)")
            let file = try ops.git(["log", "-1", "-p", "--format=", "--", "Approvals"])
            #expect(file.contains("- [x] DB migration reviewed") && file.contains("approver: Alex Approver <alex@example.com>"))
        }
    }

    @Test("without an approval the checklist gate fails the run: approval timed out, nothing deployed")
    func timesOut() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(
                version: "1.0.0", listen: port, rollback: Self.gates.replacingOccurrences(of: "30s", with: "1s")))
            let result = try ops.slipway(["apply"])
            #expect(result.status == 1)
            #expect(result.stderr.contains("approval timed out after 1s"), "\(result.stderr)")
            #expect(ops.instances("production").isEmpty)
            #expect(try ops.lastRecord().phases.count == 1)
        }
    }
}

@Suite("Staging phase", .serialized)
struct StagingTests {
    /// production: upstream staging, with smoke, integration and soak; staging at `stagingVersion`.
    func setUp(_ ops: OpsRepoFixture, stagingPort: Int, productionPort: Int, smokeText: String = "web") throws {
        let marker = ops.root.appendingPathComponent("integration.txt")
        let gates = """
            gates:
              smoke: [ { name: home, http: { path: /, expect: 200, contains: "\(smokeText)" } } ]
              integration: [ { name: flows, command: ["/bin/sh", "-c", "echo \\"$0\\" >> \(marker.path); echo flows passed on $0", "{url}"] } ]
              monitor: 1s
            """
        try ops.commit("Environments/staging.yaml", testManifest(version: "1.0.0", listen: stagingPort))
        try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: productionPort, upstream: "staging", rollback: gates))
    }

    @Test("a new production version is deployed to staging first, validated there, then shipped; progress 0 → 20 → 50 → 80 → 100")
    func promotesThroughStaging() async throws {
        try await OpsRepoFixture.with { ops in
            let staging = try Ports.free(), production = try Ports.free()
            try setUp(ops, stagingPort: staging, productionPort: production)
            #expect(try ops.slipway(["apply"]).status == 0)

            // Only production's manifest changes: Slipway promotes 2.0.0 to staging in the same run.
            let text = try ops.git(["show", "HEAD:Environments/production.yaml"]).replacingOccurrences(of: "version: \"1.0.0\"", with: "version: \"2.0.0\"")
            try ops.commit("Environments/production.yaml", text)
            let plan = try ops.slipway(["plan"])
            #expect(plan.stdout.contains("first promotes 2.0.0 into staging and validates it there"), "plan says what apply changes in staging: \(plan.output)")
            let result = try ops.slipway(["apply", "production"])
            #expect(result.status == 0, "\(result.output)")
            #expect(fetch(staging)?.body == "web 2.0.0\n")
            #expect(fetch(production)?.body == "web 2.0.0\n")

            let subjects = try ops.git(["log", "-4", "--format=%s"]).split(separator: "\n").map(String.init)
            #expect(subjects[0].hasPrefix("deploy(production): web 1.0.0 → 2.0.0 succeeded"), "\(subjects)")
            #expect(subjects[1].hasPrefix("deploy(staging): web 1.0.0 → 2.0.0 succeeded"))
            #expect(subjects[2].hasPrefix("promote(staging): web 1.0.0 → 2.0.0 for production"))
            #expect(try ops.git(["show", "HEAD:Environments/staging.yaml"]).contains("version: \"2.0.0\""))

            let record = try ops.lastRecord()
            let stagingSteps = record.phases.first { $0.name == "staging" }?.steps.map(\.name) ?? []
            #expect(stagingSteps == ["promote 2.0.0 to staging", "smoke checks in staging", "integration flows in staging",
                                     "soak in staging for 1s", "staging stable and validated"], "\(stagingSteps)")
            let stagingDeployment = try ops.git(["log", "-1", "--skip=1", "--format=%(trailers:key=Slipway-Deployment,valueonly)"])
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(record.upstreamDeployment?.rawValue == stagingDeployment)
            #expect(try ops.git(["show", "HEAD:Status/staging.md"]).contains("validatedVersion: 2.0.0"))
            let integration = try String(contentsOf: ops.root.appendingPathComponent("integration.txt"), encoding: .utf8)
            #expect(integration.hasSuffix("http://127.0.0.1:\(staging)\n"), "integration ran against staging: \(integration)")

            let progress = result.stderr.split(separator: "\n").filter { $0.contains("] production · ") }
                .compactMap { Int($0.dropFirst().prefix { $0 != "%" }.trimmingCharacters(in: .whitespaces)) }
            #expect(progress == progress.sorted(), "progress went backwards: \(progress)")
            for mark in [0, 20, 50, 80, 100] { #expect(progress.contains(mark), "progress never reached \(mark)%: \(progress)") }
        }
    }

    @Test("a staging smoke failure stops the run before production is touched")
    func stagingSmokeFailure() async throws {
        try await OpsRepoFixture.with { ops in
            let staging = try Ports.free(), production = try Ports.free()
            try setUp(ops, stagingPort: staging, productionPort: production, smokeText: "web 1.0.0")
            #expect(try ops.slipway(["apply"]).status == 0)
            let before = ops.instances("production").map(\.id)
            let text = try ops.git(["show", "HEAD:Environments/production.yaml"]).replacingOccurrences(of: "version: \"1.0.0\"", with: "version: \"2.0.0\"")
            try ops.commit("Environments/production.yaml", text)
            let result = try ops.slipway(["apply", "production"])
            #expect(result.status == 1)
            #expect(result.stderr.contains("in staging: smoke check home: GET / on staging answered without \"web 1.0.0\" in its body"), "\(result.stderr)")
            #expect(ops.instances("production").map(\.id) == before)
            #expect(fetch(production)?.body == "web 1.0.0\n")
            #expect(try ops.lastRecord().phases.map(\.name) == ["pre-flight", "staging"])
        }
    }

    @Test("a secret this machine lacks holds the lane: plan, dry run, apply and status say so; staging is not touched, nothing is recorded; once set, it deploys without --retry-failed")
    func heldByMachine() async throws {
        try await OpsRepoFixture.with { ops in
            let staging = try Ports.free(), production = try Ports.free()
            try setUp(ops, stagingPort: staging, productionPort: production)
            #expect(try ops.slipway(["apply"]).status == 0)
            let records = try ops.git(["log", "--format=%H", "--grep", "Slipway-Result:"]).split(separator: "\n").count
            let text = try ops.git(["show", "HEAD:Environments/production.yaml"])
                .replacingOccurrences(of: "version: \"1.0.0\"", with: "version: \"2.0.0\"")
                .replacingOccurrences(of: "traffic:", with: "  secrets: { DB_PASSWORD: env:TEST_HELD_SECRET }\ntraffic:")
            try ops.commit("Environments/production.yaml", text)
            try ops.commit("Environments/staging.yaml", testManifest(version: "1.1.0", listen: staging))  // its own change waits with the lane

            let plan = try ops.slipway(["plan"])
            #expect(plan.stdout.contains("staging: held web 1.0.0 → 1.1.0") && plan.stdout.contains("production in its lane is held"), "\(plan.output)")
            #expect(plan.stdout.contains("production: held web 1.0.0 → 2.0.0") && plan.stdout.contains("TEST_HELD_SECRET is not set in Slipway's environment"), "\(plan.output)")
            #expect(try ops.slipway(["apply", "--dry-run"]).stdout.contains("production: nothing to do (held) — secret DB_PASSWORD: TEST_HELD_SECRET is not set"))
            let held = try ops.slipway(["apply"])
            #expect(held.status == 1 && held.stderr.contains("production: held — secret DB_PASSWORD"), "\(held.output)")
            #expect(try ops.slipway(["status", "production"]).stdout.contains("production: held on this machine — secret DB_PASSWORD: TEST_HELD_SECRET is not set"))
            #expect(try ops.git(["log", "--format=%H", "--grep", "Slipway-Result:"]).split(separator: "\n").count == records, "nothing recorded")
            #expect(try ops.git(["show", "HEAD:Status/staging.md"]).contains("version: 1.0.0"), "staging untouched")

            let fixed = try ops.slipway(["apply"], environment: ["TEST_HELD_SECRET": "s3cret"])
            #expect(fixed.status == 0 && fixed.stdout.contains("production: succeeded") && fixed.stdout.contains("staging: succeeded"), "\(fixed.output)")
            #expect(fetch(production)?.body == "web 2.0.0\n")
        }
    }

    @Test("a revert of a release goes straight back: no staging, no checklist, every instance at once, one switch; rollback.gated opts back in")
    func emergencyRollback() async throws {
        try await OpsRepoFixture.with { ops in
            let staging = try Ports.free(), production = try Ports.free()
            try setUp(ops, stagingPort: staging, productionPort: production)
            let checklist = try ops.git(["show", "HEAD:Environments/production.yaml"])
                .replacingOccurrences(of: "gates:\n", with: "gates:\n  checklist: [\"On-call informed\"]\n  approvalTimeout: 30s\n")
            try ops.commit("Environments/production.yaml", checklist)
            func approveAndApply() throws {
                #expect(try ops.slipway(["approve", "production", "--by", "Alex <alex@example.com>"]).status == 0)
                let applied = try ops.slipway(["apply"])
                #expect(applied.status == 0, "\(applied.output)")
            }
            try approveAndApply()
            let release = try ops.commit("Environments/production.yaml", checklist.replacingOccurrences(of: "version: \"1.0.0\"", with: "version: \"2.0.0\""))
            try approveAndApply()
            try Command.git(["revert", "--no-edit", release], in: ops.workTree)

            let load = LoadClient(port: production)
            let result = try ops.slipway(["apply", "production"])  // no approval: it would wait 30 s for one
            let traffic = load.stop()
            #expect(result.status == 0, "\(result.output)")
            #expect(traffic.failed == 0, "\(traffic.errors.prefix(3))")
            let record = try ops.lastRecord()
            #expect(record.result == .rolledBack && record.version == "1.0.0", "\(record.result)")
            let all = record.phases.flatMap(\.steps)
            #expect(all.first { $0.name == "checklist" }?.detail.hasPrefix("not asked: 1.0.0 ran here before") == true, "\(all)")
            #expect(record.phases.first { $0.name == "staging" }?.steps.first?.detail.hasPrefix("going back to 1.0.0, which ran here before") == true)
            let steps = record.phases.first { $0.name == "production" }?.steps.map(\.name) ?? []
            #expect(steps.first == "start 2 × 1.0.0 at 0% traffic" && steps.contains("switch all traffic to 1.0.0"), "\(steps)")
            #expect(ops.instances("production").allSatisfy { $0.version == "1.0.0" && $0.warmUntil == nil }, "rolling kept nothing warm")
            #expect(try ops.git(["show", "HEAD:Status/staging.md"]).contains("version: 2.0.0"), "staging is left as it was")
            #expect(fetch(production)?.body == "web 1.0.0\n")

            // Opting back in: going back to a manifest with rollback.gated takes the whole pipeline.
            let gated = checklist + "rollback: { gated: true }\n"
            try ops.commit("Environments/production.yaml", gated.replacingOccurrences(of: "version: \"1.0.0\"", with: "version: \"3.0.0\""))
            try approveAndApply()
            let fourth = try ops.commit("Environments/production.yaml", gated.replacingOccurrences(of: "version: \"1.0.0\"", with: "version: \"4.0.0\""))
            try approveAndApply()
            try Command.git(["revert", "--no-edit", fourth], in: ops.workTree)
            try approveAndApply()
            let back = try ops.lastRecord()
            #expect(back.version == "3.0.0" && back.phases.first { $0.name == "staging" }?.outcome == .passed, "\(back.phases.map(\.name))")
        }
    }
}
