import Foundation
import Testing
@testable import SlipwayRecords
@testable import SlipwayHost

@Suite("trust: signed manifest changes", .serialized)
struct TrustTests {
    @Test("with Trust/allowed_signers: unsigned and unknown-signed changes are refused with a record; a signed one deploys")
    func sshSignatures() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let alice = try ops.sshKey("alice"), mallory = try ops.sshKey("mallory")
            try ops.commit("Trust/allowed_signers", alice.signer + "\n")

            let unsigned = try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            let refused = try ops.slipway(["apply"])
            #expect(refused.status == 1)
            var record = try ops.lastRecord()
            #expect(record.result == .failed)
            #expect(record.reason == "refused: \(unsigned.prefix(7)) by \(Command.gitIdentity["GIT_AUTHOR_NAME"] ?? "") <\(Command.gitIdentity["GIT_AUTHOR_EMAIL"] ?? "")> is not signed; Trust/ requires a signature by an allowed signer",
                    "\(record.reason ?? "")")
            #expect(record.instances.isEmpty && ops.instances("production").isEmpty, "nothing started")

            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.1", listen: port), signedWith: mallory.key)
            #expect(try ops.slipway(["apply"]).status == 1)
            record = try ops.lastRecord()
            #expect(record.reason?.contains("is signed with an SSH key that Trust/allowed_signers does not list") == true, "\(record.reason ?? "")")
            // Signers are named by fingerprint, as ssh-keygen -l does: two ed25519 keys never look alike.
            func fingerprint(_ key: String) throws -> String {
                let listed = try Command.run(URL(fileURLWithPath: "/usr/bin/ssh-keygen"), ["-l", "-f", key + ".pub"]).stdout
                return String(listed.split(separator: " ")[1])
            }
            let (aliceFingerprint, malloryFingerprint) = (try fingerprint(alice.key), try fingerprint(mallory.key))
            #expect(record.reason?.hasSuffix("(\(malloryFingerprint))") == true, "\(record.reason ?? "")")
            let shown = try Command.slipway(["trust", "show", "--repo", ops.repo.path])
            #expect(shown.stdout.contains("alice@example.com (\(aliceFingerprint))") && !shown.stdout.contains(malloryFingerprint), "\(shown.output)")

            let signed = try ops.commit("Environments/production.yaml", testManifest(version: "1.0.2", listen: port), signedWith: alice.key)
            let deployed = try ops.slipway(["apply"])
            #expect(deployed.status == 0, "\(deployed.output)")
            record = try ops.lastRecord()
            #expect(record.result == .succeeded)
            let step = record.phases.first?.steps.first { $0.name == "signature" }
            #expect(step?.detail == "\(signed.prefix(7)) signed by alice@example.com (SSH)", "\(step?.detail ?? "")")
            #expect(fetch(port)?.body == "web 1.0.2\n")

            // Mallory adds her own key without a signature, then signs a change with it: the keys were not changed by a trusted signer.
            try ops.commit("Trust/allowed_signers", alice.signer + "\n" + mallory.signer + "\n")
            try ops.commit("Environments/production.yaml", testManifest(version: "6.6.6", listen: port), signedWith: mallory.key)
            #expect(try ops.slipway(["apply"]).status == 1)
            record = try ops.lastRecord()
            #expect(record.reason?.contains("Trust/ was changed without a trusted signature") == true, "\(record.reason ?? "")")
            #expect(fetch(port)?.body == "web 1.0.2\n")

            // Removing Trust/ does not turn checking off on a machine that deployed under it.
            try Command.git(["rm", "-q", "-r", "Trust"], in: ops.workTree)
            try Command.git(["commit", "-q", "-m", "no more trust"], in: ops.workTree)
            try ops.commit("Environments/production.yaml", testManifest(version: "6.6.7", listen: port))
            #expect(try ops.slipway(["apply"]).status == 1)
            #expect(try ops.lastRecord().reason?.contains("Trust/ is gone") == true)
        }
    }

    @Test("under Trust/, a forged unsigned approval does not pass a checklist gate; slipway approve on this machine does")
    func approvals() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let alice = try ops.sshKey("alice")
            try ops.commit("Trust/allowed_signers", alice.signer + "\n")
            let gates = "gates: { checklist: [\"DB migrated\"], approvalTimeout: 2s }"
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port, rollback: gates), signedWith: alice.key)
            let blob = try ops.git(["rev-parse", "HEAD:Environments/production.yaml"]).trimmingCharacters(in: .whitespacesAndNewlines)
            // What slipway approve would commit, made by hand and not signed.
            try Data("forged\n".utf8).write(to: try ops.workTree.appendingPathComponent("Approvals/production/forged.md").creatingParent())
            try Command.git(["add", "Approvals"], in: ops.workTree)
            try Command.git(["commit", "-q", "-m", "approve(production): web 1.0.0\n\nSlipway-Approval: production\nSlipway-Manifest: \(blob)"], in: ops.workTree)
            let refused = try ops.slipway(["apply"])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("approval timed out after 2s (not counted:") && refused.stderr.contains("is not signed"), "\(refused.stderr)")
            #expect(ops.instances("production").isEmpty)

            #expect(try ops.slipway(["approve", "production", "--by", "Alex Approver <alex@example.com>"]).status == 0)
            let deployed = try ops.slipway(["apply", "--retry-failed"])
            #expect(deployed.status == 0, "\(deployed.output)")
            let step = try ops.lastRecord().phases.flatMap(\.steps).first { $0.name == "checklist" }
            #expect(step?.detail.hasPrefix("approved by Alex Approver <alex@example.com>") == true, "\(step?.detail ?? "")")
        }
    }

    @Test("the server pre-receive hook refuses a push with an unsigned manifest change when Trust/ names signers")
    func preReceive() async throws {
        try await OpsRepoFixture.with(bare: true) { ops in
            #expect(try Command.slipway(["hooks", "install", "--server", "--repo", ops.repo.path]).status == 0)
            let alice = try ops.sshKey("alice")
            let push = { try Command.run(URL(fileURLWithPath: "/usr/bin/git"), ["push", "origin", "HEAD:main"], directory: ops.workTree) }
            try ops.commit("Trust/allowed_signers", alice.signer + "\n", signedWith: nil)
            #expect(try push().status == 0, "the first Trust/ is taken on trust")

            let unsigned = try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: 1), signedWith: nil)
            let refused = try push()
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("refused: \(unsigned.prefix(7)) by Pat Person <pat@example.com> is not signed"), "\(refused.stderr)")
            #expect(try ops.git(["rev-parse", "main:Trust/allowed_signers"]).isEmpty == false)
            #expect(throws: (any Error).self, "the bare repository did not take the manifest") { try ops.git(["rev-parse", "main:Environments"]) }

            try Command.git(["reset", "-q", "--hard", "HEAD~1"], in: ops.workTree)
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: 1), signedWith: alice.key)
            let accepted = try push()
            #expect(accepted.status == 0, "\(accepted.stderr)")
        }
    }

    @Test("with Trust/gpg/*.asc: an OpenPGP-signed change by a listed key deploys, an unsigned one does not")
    func gpgSignatures() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let home = ops.root.appendingPathComponent("gnupg")
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
            try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: home.path)
            let gpg = URL(fileURLWithPath: "/usr/bin/gpg")
            let environment = ["GNUPGHOME": home.path]
            let made = try Command.run(gpg, ["--batch", "--passphrase", "", "--quick-gen-key", "Alice <alice@example.com>", "ed25519", "sign", "never"],
                                       environment: environment)
            #expect(made.status == 0, "\(made.output)")
            let exported = try Command.run(gpg, ["--batch", "--armor", "--export", "alice@example.com"], environment: environment)
            try ops.commit("Trust/gpg/alice.asc", exported.stdout)

            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            #expect(try ops.slipway(["apply"]).status == 1)
            #expect(try ops.lastRecord().reason?.contains("is not signed") == true)

            let signed = try ops.commit("Environments/production.yaml", testManifest(version: "1.0.1", listen: port),
                                    gpg: (home.path, "alice@example.com"))
            let deployed = try ops.slipway(["apply"])
            #expect(deployed.status == 0, "\(deployed.output)")
            let step = try ops.lastRecord().phases.first?.steps.first { $0.name == "signature" }
            #expect(step?.detail.hasPrefix("\(signed.prefix(7)) signed by Alice <alice@example.com> (OpenPGP key ") == true, "\(step?.detail ?? "")")
            _ = try Command.run(URL(fileURLWithPath: "/usr/bin/gpgconf"), ["--kill", "all"], environment: environment)
        }
    }

    @Test("under Trust/, deleting a manifest stops its environment only when the deleting commit is signed; an unsigned deletion or a branch moved back to before it stops nothing")
    func deletions() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let alice = try ops.sshKey("alice")
            let release = try ops.trustedRelease(by: alice, listen: port)
            let released = try ops.git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
            let manifest = testManifest(version: "1.0.0", replicas: 1, listen: port)

            try ops.commit("Environments/production.yaml", nil, message: "Unsigned retirement")
            let refused = try ops.slipway(["apply"])
            #expect(refused.status == 1 && refused.stderr.contains("deleted, but the deletion does not count under Trust/"), "\(refused.output)")
            #expect(refused.stderr.contains("is not signed"), "\(refused.output)")
            #expect(fetch(port)?.body == "web 1.0.0\n", "production keeps serving")
            #expect(try ops.slipway(["plan"]).stdout.contains("remove") == false)

            // Put back (signed), then moved back to before the release: that history was judged; it removes nothing.
            try ops.commit("Environments/production.yaml", manifest, signedWith: alice.key)
            #expect(try ops.slipway(["apply"]).status == 0)
            try ops.git(["update-ref", "refs/heads/main", try ops.git(["rev-parse", "\(release)^"]).trimmingCharacters(in: .whitespacesAndNewlines)])
            let rewound = try ops.slipway(["apply"])
            #expect(rewound.status == 1 && rewound.stderr.contains("deletion does not count"), "\(rewound.output)")
            #expect(fetch(port)?.body == "web 1.0.0\n", "production keeps serving")
            try ops.git(["update-ref", "refs/heads/main", released])
            try ops.git(["reset", "-q", "--hard", "main"])

            let deletion = try ops.commit("Environments/production.yaml", nil, signedWith: alice.key, message: "Retire production")
            let plan = try ops.slipway(["plan"])  // plan judges nothing: it says so
            #expect(plan.stdout.contains("deleted, but the deletion was not judged under Trust/ (judged by the next apply"), "\(plan.output)")
            let removed = try ops.slipway(["apply"])
            #expect(removed.status == 0 && removed.stdout.contains("production: removed — web 1.0.0 stopped"), "\(removed.output)")
            let record = try ops.lastRecord()
            #expect(record.result == .removed && record.trigger.hex == deletion, "\(record.reason ?? "")")
            #expect(fetch(port) == nil && ops.instances("production").isEmpty)
            #expect(try ops.git(["log", "-1", "--format=%(trailers:key=Slipway-Result,valueonly)"]).contains("removed"))
        }
    }

    @Test("an unsigned manifest downstream of production whose program this machine lacks holds nothing: production's signed release deploys, the unsigned one is refused")
    func unsignedDownstreamHoldsNothing() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), other = try Ports.free()
            let alice = try ops.sshKey("alice")
            try ops.trustedRelease(by: alice, listen: port)
            let evil = testManifest(version: "6.6.6", replicas: 1, listen: other, upstream: "production")
                .replacingOccurrences(of: "\"slipway-demo-service\"", with: "\"no-such-program-xyz\"")
            try ops.commit("Environments/evil.yaml", evil, signedWith: nil)
            try ops.commit("Environments/production.yaml", testManifest(version: "1.1.0", replicas: 1, listen: port), signedWith: alice.key)
            let applied = try ops.slipway(["apply"])
            #expect(!applied.output.contains("held"), "\(applied.output)")
            #expect(applied.stdout.contains("production: succeeded — web 1.0.0 → 1.1.0"), "\(applied.output)")
            #expect(fetch(port)?.body == "web 1.1.0\n")
            #expect(applied.output.contains("evil: failed") && applied.output.contains("is not signed"), "\(applied.output)")
        }
    }
}
