import Foundation
import Testing
@testable import SlipwayRecords
@testable import SlipwayHost

/// Notifications delivered to a real receiver on 127.0.0.1 that checks the signature with its
/// own HMAC (Python's), as a receiver written for Flux's `generic-hmac` provider does.
@Suite("Notifications", .serialized)
struct NotificationTests {
    static let key = "hook-key-5f2a"

    static func notify(events: String = "") -> String {
        """
        notify:
          - { name: team-hook, webhook: env:HOOK_URL, secret: env:HOOK_KEY\(events.isEmpty ? "" : ", events: [\(events)]") }

        """
    }

    @Test("a receiver checking the HMAC gets the events of a release and of a rolled-back canary, in order, and no secret is written anywhere")
    func releaseAndRollback() async throws {
        try await OpsRepoFixture.with { ops in
            try await WebhookReceiver.with(in: ops.root, key: Self.key) { receiver in
                let port = try Ports.free()
                let secrets = ["HOOK_URL": receiver.url, "HOOK_KEY": Self.key]
                try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port) + Self.notify())
                let first = try ops.slipway(["apply"], environment: secrets)
                #expect(first.status == 0, "\(first.output)")
                try ops.commit("Environments/production.yaml", testManifest(
                    version: "2.0.0", listen: port, extraArguments: ["--error-rate", "0.3"], strategy: CanaryTests.canary,
                    rollback: CanaryTests.policy) + Self.notify())
                let client = LoadClient(port: port)
                let second = try ops.slipway(["apply"], environment: secrets)
                _ = client.stop()
                #expect(second.status == 1, "\(second.output)")
                // `apply` waits for the last events before it exits: everything has arrived.
                let requests = receiver.received()
                #expect(requests.allSatisfy { $0.verified }, "every signature checks out")
                #expect(requests.map(\.kind) == ["started", "promoted", "succeeded", "started", "rolled-back"], "\(requests.map(\.kind))")
                let rolledBack = try #require(requests.last?.event)
                #expect(rolledBack["trigger"]?.text == "error-rate")
                #expect(rolledBack["evidence"]?.text?.contains("error rate") == true, "\(rolledBack)")
                #expect(rolledBack["record"]?.text == (try ops.lastRecordPath()))
                #expect(rolledBack["message"]?.text?.hasPrefix("production: web 1.0.0 → 2.0.0 rolled back") == true)
                // What a Flux receiver reads.
                #expect(rolledBack["involvedObject"]?["name"]?.text == "production")
                #expect(rolledBack["reason"]?.text == "RolledBack" && rolledBack["severity"]?.text == "error")
                #expect(rolledBack["metadata"]?["version"]?.text == "2.0.0")
                // The record tells what became of the events sent during the run.
                let record = try ops.git(["show", "HEAD:\(try ops.lastRecordPath())"])
                #expect(record.contains("| started | team-hook | delivered | 1 | delivered |"), "\(record)")
                // Neither the URL nor the key is in any commit, note or log of the state directory.
                let everything = try ops.git(["log", "--all", "-p", "--notes=slipway"]) + logs(under: ops.stateDirectory)
                #expect(!everything.contains(Self.key) && !everything.contains("127.0.0.1:\(receiver.port)"))
            }
        }
    }

    @Test("a receiver that answers 500 twice gets the event on the third try, and the deployment did not wait for it")
    func retried() async throws {
        try await OpsRepoFixture.with { ops in
            try await WebhookReceiver.with(in: ops.root, key: Self.key, failFirst: 2, delay: 1.5) { receiver in
                let port = try Ports.free()
                let secrets = ["HOOK_URL": receiver.url, "HOOK_KEY": Self.key]
                try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: port) + Self.notify(events: "started"))
                let result = try ops.slipway(["apply"], environment: secrets)
                #expect(result.status == 0, "\(result.output)")
                let requests = receiver.received()
                #expect(requests.map(\.kind) == ["started", "started", "started"], "one event, tried three times: \(requests)")
                #expect(requests.allSatisfy { $0.verified })
                let record = try ops.lastRecord()
                let third = try #require(requests.last)
                // 1.5 s per answer and 1 s, then 2 s between tries: the third try came 6 s after
                // the first; the deployment was done and recorded before it.
                #expect(record.finished.timeIntervalSince1970 < third.at, "finished \(record.finished), third try \(third.at)")
                let text = try ops.git(["show", "HEAD:\(try ops.lastRecordPath())"])
                #expect(text.contains("| started | team-hook | pending |"), "\(text)")
            }
        }
    }

    @Test("Notifications/all.yaml sends every environment's events; under Trust/ one pushed unsigned is never used, a signed one is")
    func shared() async throws {
        try await OpsRepoFixture.with { ops in
            try await WebhookReceiver.with(in: ops.root, key: Self.key) { receiver in
                let port = try Ports.free()
                let secrets = ["HOOK_URL": receiver.url, "HOOK_KEY": Self.key]
                let alice = try ops.sshKey("alice")
                try ops.trustedRelease(by: alice, listen: port, apply: false)
                try ops.commit("Notifications/all.yaml", Self.notify(events: "succeeded"), signedWith: nil)
                try ops.commit("Environments/production.yaml", testManifest(version: "1.1.0", replicas: 1, listen: port), signedWith: alice.key)
                let first = try ops.slipway(["apply"], environment: secrets)
                #expect(first.status == 0, "\(first.output)")
                #expect(receiver.received().isEmpty, "an unsigned Notifications/all.yaml names no channel: \(receiver.received().map(\.kind))")
                try ops.commit("Notifications/all.yaml", Self.notify(events: "succeeded, failed"), signedWith: alice.key)
                try ops.commit("Environments/production.yaml", testManifest(version: "1.2.0", replicas: 1, listen: port), signedWith: alice.key)
                let second = try ops.slipway(["apply"], environment: secrets)
                #expect(second.status == 0, "\(second.output)")
                let requests = receiver.received()
                #expect(requests.map(\.kind) == ["succeeded"] && requests.allSatisfy { $0.verified }, "\(requests)")
                #expect(requests.first?.event?["version"]?.text == "1.2.0")
            }
        }
    }

    @Test("a checklist's wait is announced with the checklist and the command that approves; each canary step that passes is announced")
    func approvalAndSteps() async throws {
        try await OpsRepoFixture.with { ops in
            try await WebhookReceiver.with(in: ops.root, key: Self.key) { receiver in
                let port = try Ports.free()
                let secrets = ["HOOK_URL": receiver.url, "HOOK_KEY": Self.key]
                try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
                #expect(try ops.slipway(["apply"]).status == 0)
                let manifest = testManifest(version: "2.0.0", listen: port, strategy: "canary: { steps: [50, 100], stepDuration: 2s, analysisInterval: 1s }",
                                            rollback: CanaryTests.policy)
                    + "gates:\n  checklist: [\"DB migration reviewed\", \"On-call told\"]\n  approvalTimeout: 60s\n" + Self.notify()
                try ops.commit("Environments/production.yaml", manifest)
                let client = LoadClient(port: port)
                defer { _ = client.stop() }
                let apply = Background(ops, ["apply"], environment: secrets)
                #expect(await eventually { receiver.received().contains { $0.kind == "waiting-for-approval" } }, "\(receiver.received().map(\.kind))")
                let waiting = try #require(receiver.received().first { $0.kind == "waiting-for-approval" }?.event)
                #expect(waiting["approve"]?.text == "slipway approve production")
                if case .array(let items) = waiting["checklist"] {
                    #expect(items.compactMap(\.text) == ["DB migration reviewed", "On-call told"])
                } else {
                    Issue.record("no checklist in \(waiting)")
                }
                #expect(try ops.slipway(["approve", "production"]).status == 0)
                let result = apply.wait()
                #expect(result?.status == 0, "\(result?.output ?? "no result")")
                #expect(receiver.received().map(\.kind) == ["started", "waiting-for-approval", "step-passed", "step-passed", "promoted", "succeeded"],
                        "\(receiver.received().map(\.kind))")
                #expect(receiver.received().filter { $0.kind == "step-passed" }.compactMap { $0.event?["step"]?.text } == ["step 1/2", "step 2/2"])
            }
        }
    }

    @Test("a refused manifest's refused event runs the accepted manifest's command, in the accepted manifest's folder: a pushed folder and program are never run")
    func refusedRunsAcceptedCommand() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let alice = try ops.sshKey("alice")
            let out = ops.root.appendingPathComponent("notified.txt")
            // The accepted manifest's command: ./notify.sh in its working directory (Slipway's own, by default).
            let notify = "notify:\n  - { name: pager, command: [\"./notify.sh\", \"\(out.path)\"], events: [refused, succeeded] }\n"
            try ops.commit("Trust/allowed_signers", alice.signer + "\n", signedWith: alice.key)
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: port) + notify, signedWith: alice.key)
            let work = ops.stateDirectory.appendingPathComponent("envs/production/work")
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            let good = work.appendingPathComponent("notify.sh")
            try "#!/bin/sh\necho \"accepted $SLIPWAY_VERSION $(pwd)\" >> \"$1\"\n".write(to: good, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: good.path)
            let first = try ops.slipway(["apply"])
            #expect(first.status == 0, "\(first.output)")
            // Pushed without a signature: a folder in the repo with its own notify.sh, named as the working directory.
            try ops.commit("evil/notify.sh", "#!/bin/sh\necho PWNED >> \"$1\"\n")
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: ops.workTree.appendingPathComponent("evil/notify.sh").path)
            try ops.git(["add", "--chmod=+x", "evil/notify.sh"])
            try ops.git(["commit", "-q", "-m", "make it executable"])
            let forged = testManifest(version: "6.6.6", replicas: 1, listen: port).replacingOccurrences(of: "  stopTimeout: 2s", with: "  stopTimeout: 2s\n  workingDirectory: evil") + notify
            try ops.commit("Environments/production.yaml", forged, signedWith: nil)
            let refused = try ops.slipway(["apply"])
            #expect(refused.status == 1, "\(refused.output)")
            let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
            #expect(!text.contains("PWNED"), "\(text)")
            let lines = text.split(separator: "\n")
            #expect(lines.count == 2 && lines.allSatisfy { $0.hasPrefix("accepted 1.0.0 ") && $0.hasSuffix("/envs/production/work") }, "\(text)")
        }
    }

    /// The text of every log file under `directory`.
    func logs(under directory: URL) -> String {
        let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        return files.filter { $0.pathExtension == "log" || $0.pathExtension == "json" }
            .compactMap { try? String(contentsOf: $0, encoding: .utf8) }.joined(separator: "\n")
    }
}
