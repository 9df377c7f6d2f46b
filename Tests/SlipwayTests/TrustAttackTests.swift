import Foundation
import Testing
@testable import SlipwayRecords
@testable import SlipwayHost
@testable import SlipwayEngine

/// An attacker with push access and no signing key, against an ops repo whose `Trust/` names
/// alice: every way found to make Slipway run the attacker's command ends in a refusal. The
/// attacker's command, if it ever ran, would create a marker file. Real keys, real signatures,
/// real pushes through the installed hooks, real instances.
@Suite("trust under attack", .serialized)
struct TrustAttackTests {
    /// A manifest whose program, if Slipway ever started it, leaves `marker` behind.
    static func evil(version: String, listen: Int, marker: URL, extra: String = "") -> String {
        """
        service: web
        version: "\(version)"
        run:
          command: ["/usr/bin/touch", "\(marker.path)"]
        traffic: { listen: "127.0.0.1:\(listen)" }
        \(extra)

        """
    }

    /// Slipway commits (author Slipway) that changed a manifest since `commit`.
    func slipwayManifestCommits(_ ops: OpsRepoFixture, since commit: String) throws -> [String] {
        try ops.git(["log", "--format=%H %an", "\(commit)..HEAD", "--", "Environments"]).split(separator: "\n")
            .filter { $0.hasSuffix(" Slipway") }.map { String($0.prefix(40)) }
    }

    @Test("a forged Status file and onFailure: revert in a refused change: nothing is reverted, the forged manifest never runs")
    func forgedStatusRevert() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), marker = ops.root.appendingPathComponent("pwned")
            let alice = try ops.sshKey("alice")
            try ops.trustedRelease(by: alice, listen: port)
            let deployed = try ops.git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)

            // The attacker's manifest as a blob, a Status naming it as what runs, and a refused change asking for a revert.
            let evilBlob = try ops.writeBlob(Self.evil(version: "1.0.0", listen: port, marker: marker))
            let status = try ops.git(["show", "HEAD:Status/production.md"])
            let forged = status.replacingOccurrences(of: #"manifest: [0-9a-f]{40}"#, with: "manifest: \(evilBlob)", options: .regularExpression)
            try ops.commit("Status/production.md", forged, signedWith: nil)
            try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", replicas: 1, listen: port,
                                                                        rollback: "rollback: { onFailure: revert }"), signedWith: nil)
            for _ in 0..<2 {
                let apply = try ops.slipway(["apply", "--retry-failed"])
                #expect(apply.status == 1 && apply.output.contains("is not signed"), "\(apply.output)")
            }
            #expect(try slipwayManifestCommits(ops, since: deployed).isEmpty, "Slipway committed no manifest")
            #expect(!FileManager.default.fileExists(atPath: marker.path))
            #expect(fetch(port)?.body == "web 1.0.0\n")
        }
    }

    @Test("a signed release of production does not promote an unsigned staging manifest")
    func promotionOfUnsignedText() async throws {
        try await OpsRepoFixture.with { ops in
            let staging = try Ports.free(), production = try Ports.free(), marker = ops.root.appendingPathComponent("pwned")
            let alice = try ops.sshKey("alice")
            try ops.commit("Trust/allowed_signers", alice.signer + "\n", signedWith: alice.key)
            try ops.commit("Environments/staging.yaml", testManifest(version: "1.0.0", replicas: 1, listen: staging), signedWith: alice.key)
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: production, upstream: "staging"),
                           signedWith: alice.key)
            #expect(try ops.slipway(["apply"]).status == 0)
            let deployed = try ops.git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)

            try ops.commit("Environments/staging.yaml", Self.evil(version: "1.0.0", listen: staging, marker: marker), signedWith: nil)
            try ops.commit("Environments/production.yaml", testManifest(version: "1.1.0", replicas: 1, listen: production, upstream: "staging"),
                           signedWith: alice.key)
            let apply = try ops.slipway(["apply"])
            #expect(apply.status == 1, "\(apply.output)")
            #expect(apply.output.contains("not promoted to staging"), "\(apply.output)")
            #expect(try slipwayManifestCommits(ops, since: deployed).isEmpty, "no promotion was committed")
            #expect(!FileManager.default.fileExists(atPath: marker.path))
            #expect(fetch(staging)?.body == "web 1.0.0\n" && fetch(production)?.body == "web 1.0.0\n")
        }
    }

    /// main: an unsigned manifest (pushed with `beforeTrust`), then Trust/ (alice). The attacker
    /// branches from before Trust/, changes the manifest unsigned, merges main so that their
    /// commit is the merge's first parent. Returns the merge (on no branch) and main before it.
    func forkBeforeTrust(_ ops: OpsRepoFixture, port: Int, marker: URL, alice: (key: String, signer: String),
                         beforeTrust: () throws -> Void = {}) throws -> (merge: String, main: String) {
        let base = try ops.commit("Environments/production.yaml", testManifest(version: "0.9.0", replicas: 1, listen: port), signedWith: nil)
        try beforeTrust()
        let main = try ops.commit("Trust/allowed_signers", alice.signer + "\n", signedWith: alice.key)
        try Command.git(["checkout", "-q", "-b", "evil", base], in: ops.workTree)
        try ops.commit("Environments/production.yaml", Self.evil(version: "6.6.6", listen: port, marker: marker), signedWith: nil)
        try Command.git(["merge", "-q", "--no-edit", "-m", "Merge main", "main"], in: ops.workTree)
        let merge = try Command.git(["rev-parse", "HEAD"], in: ops.workTree).trimmingCharacters(in: .whitespacesAndNewlines)
        try Command.git(["checkout", "-q", "main"], in: ops.workTree)
        try Command.git(["branch", "-q", "-D", "evil"], in: ops.workTree)
        return (merge, main)
    }

    @Test("an unsigned change on a branch forked before Trust/ existed, merged as the first parent, is refused on a machine that never deployed")
    func forkedBeforeTrust() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), marker = ops.root.appendingPathComponent("pwned")
            let (merge, _) = try forkBeforeTrust(ops, port: port, marker: marker, alice: try ops.sshKey("alice"))
            let validated = try ops.slipway(["validate", "--ref", merge, "--signed-since", "0000000000000000000000000000000000000000"])
            #expect(validated.status == 1 && validated.stderr.contains("refused:"), "what the hook runs: \(validated.output)")
            try Command.git(["merge", "-q", "--ff-only", merge], in: ops.workTree)
            let apply = try ops.slipway(["apply"])
            #expect(apply.status == 1 && apply.output.contains("is not signed"), "\(apply.output)")
            #expect(apply.output.contains("made on history without Trust/"), "\(apply.output)")
            #expect(!FileManager.default.fileExists(atPath: marker.path) && ops.instances("production").isEmpty)
        }
    }

    @Test("the pre-receive hook refuses that merge, an unsigned change of Trust/ alone, and an unsigned template; it takes signed ones")
    func hookRefusals() async throws {
        try await OpsRepoFixture.with(bare: true) { ops in
            #expect(try Command.slipway(["hooks", "install", "--server", "--repo", ops.repo.path]).status == 0)
            let port = try Ports.free(), marker = ops.root.appendingPathComponent("pwned")
            let alice = try ops.sshKey("alice"), mallory = try ops.sshKey("mallory")
            let push = { try Command.run(URL(fileURLWithPath: "/usr/bin/git"), ["push", "origin", "HEAD:main"], directory: ops.workTree) }
            let (merge, main) = try forkBeforeTrust(ops, port: port, marker: marker, alice: alice) {
                let pushed = try push()
                #expect(pushed.status == 0, "no Trust/ yet: nothing is checked")
            }
            #expect(try push().status == 0, "the first Trust/ is taken on trust")
            try Command.git(["merge", "-q", "--ff-only", merge], in: ops.workTree)
            let refused = try push()
            #expect(refused.status != 0 && refused.stderr.contains("made on history without Trust/"), "\(refused.stderr)")

            try Command.git(["reset", "-q", "--hard", main], in: ops.workTree)
            try ops.commit("Trust/allowed_signers", mallory.signer + "\n", signedWith: mallory.key)
            let lockOut = try push()
            #expect(lockOut.status != 0 && lockOut.stderr.contains("does not list"), "\(lockOut.stderr)")

            try Command.git(["reset", "-q", "--hard", main], in: ops.workTree)
            try ops.commit("Templates/record.md.mustache", "# {{{title}}}\n", signedWith: nil)
            #expect(try push().status != 0, "an unsigned template is refused")
            try Command.git(["reset", "-q", "--hard", main], in: ops.workTree)
            try ops.commit("Templates/record.md.mustache", "# {{{title}}}\n", signedWith: alice.key)
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: port), signedWith: alice.key)
            let accepted = try push()
            #expect(accepted.status == 0, "\(accepted.stderr)")
        }
    }

    @Test("an unsigned change of Trust/ that reached the branch locks nobody out: signed changes still deploy, and the forged keys never count")
    func lockOut() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let alice = try ops.sshKey("alice"), mallory = try ops.sshKey("mallory")
            try ops.trustedRelease(by: alice, listen: port)
            try ops.commit("Trust/allowed_signers", mallory.signer + "\n", signedWith: nil)  // alice removed, mallory added, unsigned

            try ops.commit("Environments/production.yaml", testManifest(version: "1.1.0", replicas: 1, listen: port), signedWith: mallory.key)
            let forged = try ops.slipway(["apply"])
            #expect(forged.status == 1 && forged.output.contains("was changed without a trusted signature"), "\(forged.output)")
            try ops.commit("Environments/production.yaml", testManifest(version: "1.2.0", replicas: 1, listen: port), signedWith: alice.key)
            let signed = try ops.slipway(["apply"])
            #expect(signed.status == 0, "\(signed.output)")
            #expect(fetch(port)?.body == "web 1.2.0\n")
            try ops.commit("Trust/allowed_signers", alice.signer + "\n", signedWith: alice.key)  // restored, signed
            let rollback = try ops.slipway(["rollback", "production", "--by", "Riley <riley@example.com>"])
            #expect(rollback.status == 0 && rollback.stdout.contains("1.2.0 → 1.0.0"), "\(rollback.output)")
            #expect(try ops.slipway(["apply"]).status == 0)
            #expect(fetch(port)?.body == "web 1.0.0\n")
        }
    }

    @Test("more than 10,000 commits since Trust/ last changed: a signed change deploys, and the refusal of an unsigned one names its own commit")
    func longHistory() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let alice = try ops.sshKey("alice")
            try ops.commit("Trust/allowed_signers", alice.signer + "\n", signedWith: alice.key)
            var stream = ""
            for index in 0..<10_001 {
                stream += "commit refs/heads/main\ncommitter A <a@example.com> \(1_700_000_000 + index) +0000\ndata 5\nnote\n"
                stream += index == 0 ? "from refs/heads/main^0\n" : ""
                stream += "M 100644 inline README.md\ndata \("\(index)\n".utf8.count)\n\(index)\n\n"
            }
            try Command.git(["fast-import", "--quiet"], in: ops.workTree, input: Data(stream.utf8))
            try Command.git(["reset", "-q", "--hard", "main"], in: ops.workTree)
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: port), signedWith: alice.key)
            let signed = try ops.slipway(["apply"])
            #expect(signed.status == 0, "\(signed.output)")
            let unsigned = try ops.commit("Environments/production.yaml", testManifest(version: "1.1.0", replicas: 1, listen: port), signedWith: nil)
            let refused = try ops.slipway(["apply"])
            #expect(refused.status == 1 && refused.output.contains("refused: \(unsigned.prefix(7))"), "\(refused.output)")
        }
    }

    @Test("under Trust/, a signed manifest whose program, script or working directory is in the ops repo is refused: the working tree holds unsigned files")
    func nothingRunsFromTheWorkingTree() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), marker = ops.root.appendingPathComponent("pwned")
            let alice = try ops.sshKey("alice")
            try ops.commit("Trust/allowed_signers", alice.signer + "\n", signedWith: alice.key)
            let script = ops.workTree.appendingPathComponent("scripts/run.sh")
            try ops.commit("scripts/run.sh", "#!/bin/sh\ntouch \(marker.path)\n", signedWith: nil)  // anyone may push this
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
            let variants: [(String, String)] = [
                ("run.workingDirectory", #"command: ["/bin/sh", "run.sh"]\#n  workingDirectory: scripts"#),
                ("run.command", #"command: ["\#(script.path)"]"#),
                ("run.command argument", #"command: ["/bin/sh", "\#(script.path)"]"#),
                ("run.command argument", #"command: ["/bin/sh", "ops/scripts/run.sh"]\#n  workingDirectory: \#(ops.root.path)"#),
                ("hooks.preDeploy argument", #"command: ["/bin/true"]\#nhooks: { preDeploy: ["/bin/sh", "\#(script.path)"] }"#),
            ]
            for (index, (what, run)) in variants.enumerated() {
                let manifest = "service: web\nversion: \"1.0.\(index)\"\nrun:\n  \(run)\ntraffic: { listen: \"127.0.0.1:\(port)\" }\n"
                try ops.commit("Environments/production.yaml", manifest, signedWith: alice.key)
                let apply = try ops.slipway(["apply"])
                #expect(apply.status == 1 && apply.output.contains("\(what)") && apply.output.contains("is in the ops repo"), "\(apply.output)")
                #expect(!FileManager.default.fileExists(atPath: marker.path), "\(what)")
            }
        }
    }

    @Test("an unsigned manifest on production's address blocks nothing, and slipway approve refuses a manifest that does not count")
    func unsignedNeighbour() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), marker = ops.root.appendingPathComponent("pwned")
            let alice = try ops.sshKey("alice")
            try ops.trustedRelease(by: alice, listen: port)
            try ops.commit("Environments/x.yaml", Self.evil(version: "6.6.6", listen: port, marker: marker), signedWith: nil)
            try ops.commit("Environments/production.yaml", testManifest(version: "1.1.0", replicas: 1, listen: port), signedWith: alice.key)
            let apply = try ops.slipway(["apply", "production"])
            #expect(apply.output.contains("production: succeeded") && fetch(port)?.body == "web 1.1.0\n", "\(apply.output)")
            #expect(apply.output.contains("Environments/x.yaml:5:20: traffic.listen"), "the file that does not count is the one reported")
            let approve = try ops.slipway(["approve", "x", "--by", "Alex <alex@example.com>"])
            #expect(approve.status != 0 && approve.stderr.contains("does not count"), "\(approve.output)")
            #expect(!FileManager.default.fileExists(atPath: marker.path))
        }
    }

    @Test("an SSH signature of 11 to 13 bytes is no signature, not a crash")
    func shortSignature() {
        for length in 6...14 {
            let blob = Data("SSHSIG".utf8) + Data(repeating: 0, count: length - 6)
            let armored = "-----BEGIN SSH SIGNATURE-----\n\(blob.base64EncodedString())\n-----END SSH SIGNATURE-----\n"
            #expect(SSHSignature.publicKey(in: Data(armored.utf8)) == nil || length == 14)
        }
        #expect(SSHSignature.keyType(of: Data([0, 0, 0, 7] + Array("ssh-rsa".utf8) + [0, 0, 0, 1, 1]).base64EncodedString()) == "ssh-rsa")
        #expect(SSHSignature.keyType(of: Data([255, 255, 255, 255]).base64EncodedString()) == nil)
    }
}
