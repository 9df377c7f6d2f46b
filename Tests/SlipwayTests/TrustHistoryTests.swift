import Foundation
import Testing
@testable import SlipwayEngine
@testable import SlipwayHost

/// An attacker with push access and no signing key who rewrites history instead of adding to
/// it: old signed content brought back, keys removed from `Trust/` used on old history, a
/// `Trust/` deleted and made anew for a machine that has none yet, refs the hook did not look
/// at. Each would run the attacker's choice; each is refused (README, "Security model").
@Suite("trust: history rewritten", .serialized)
struct TrustHistoryTests {
    static let zeros = String(repeating: "0", count: 40)

    /// alice's `Trust/`, then 1.0.0 and 2.0.0 deployed, both signed by alice; returns both commits.
    func twoReleases(_ ops: OpsRepoFixture, port: Int, alice: (key: String, signer: String)) throws -> (first: String, second: String) {
        let first = try ops.trustedRelease(by: alice, listen: port)
        let second = try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", replicas: 1, listen: port), signedWith: alice.key)
        let applied = try ops.slipway(["apply"])
        #expect(applied.status == 0, "\(applied.output)")
        #expect(fetch(port)?.body == "web 2.0.0\n")
        return (first, second)
    }

    func signedGit(_ ops: OpsRepoFixture, key: String, _ arguments: [String]) throws {
        let result = try Command.run(URL(fileURLWithPath: "/usr/bin/git"), ["-c", "gpg.format=ssh", "-c", "user.signingkey=\(key)"] + arguments,
                                     directory: ops.workTree)
        guard result.status == 0 else { throw TestFailure("git \(arguments): \(result.output)") }
    }

    @Test("the branch moved back to an old signed release does not deploy it again; a signed revert to the same content does")
    func movedBack() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), alice = try ops.sshKey("alice")
            let (first, second) = try twoReleases(ops, port: port, alice: alice)
            let tip = try ops.git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
            // What force-pushes of main leave: first back to the commit that made Trust/ (the manifest's deletion is old history: production stays), then to 1.0.0.
            try Command.git(["reset", "-q", "--hard", "\(first)~1"], in: ops.workTree)
            let beforeAll = try ops.slipway(["apply"])
            #expect(beforeAll.status == 1 && beforeAll.output.contains("the deletion does not count"), "\(beforeAll.output)")
            #expect(fetch(port)?.body == "web 2.0.0\n")
            try Command.git(["reset", "-q", "--hard", first], in: ops.workTree)
            let rewound = try ops.slipway(["apply"])
            #expect(rewound.status == 1 && rewound.output.contains("judged before and which was replaced since"), "\(rewound.output)")
            #expect(fetch(port)?.body == "web 2.0.0\n")

            try Command.git(["reset", "-q", "--hard", tip], in: ops.workTree)
            try signedGit(ops, key: alice.key, ["revert", "--no-edit", "-S", second])
            let reverted = try ops.slipway(["apply"])
            #expect(reverted.status == 0, "\(reverted.output)")
            #expect(fetch(port)?.body == "web 1.0.0\n")
        }
    }

    @Test("a merge that keeps an old signed commit's side (merge -s ours) does not bring its manifest back")
    func mergeKeepingOldSide() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), alice = try ops.sshKey("alice")
            let (first, _) = try twoReleases(ops, port: port, alice: alice)
            try Command.git(["checkout", "-q", "-b", "old", first], in: ops.workTree)
            try Command.git(["merge", "-q", "-s", "ours", "--no-edit", "main"], in: ops.workTree)
            try Command.git(["checkout", "-q", "main"], in: ops.workTree)
            try Command.git(["merge", "-q", "--ff-only", "old"], in: ops.workTree)
            let apply = try ops.slipway(["apply"])
            #expect(apply.status == 1 && apply.output.contains("judged before and which was replaced since"), "\(apply.output)")
            #expect(fetch(port)?.body == "web 2.0.0\n")
        }
    }

    @Test("a key removed from Trust/ does not count on history from before its removal")
    func removedKey() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), marker = ops.root.appendingPathComponent("pwned")
            let alice = try ops.sshKey("alice"), bob = try ops.sshKey("bob")
            try ops.commit("Trust/allowed_signers", alice.signer + "\n" + bob.signer + "\n", signedWith: alice.key)
            let both = try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: port), signedWith: alice.key)
            #expect(try ops.slipway(["apply"]).status == 0)
            try ops.commit("Trust/allowed_signers", alice.signer + "\n", signedWith: alice.key)  // bob's key leaked: removed
            #expect(try ops.slipway(["apply"]).status == 0)

            // An orphan with main's tree first: accepted as it is, and the history judged before stays judged.
            let main = try ops.git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
            let orphan = try ops.git(["commit-tree", "-m", "orphan", "\(main)^{tree}"]).trimmingCharacters(in: .whitespacesAndNewlines)
            try Command.git(["reset", "-q", "--hard", orphan], in: ops.workTree)
            #expect(try ops.slipway(["apply"]).status == 0)
            try Command.git(["reset", "-q", "--hard", main], in: ops.workTree)

            // With bob's key: a change on history from before the removal, main merged in so that main fast-forwards to it.
            try Command.git(["checkout", "-q", "-b", "bob", both], in: ops.workTree)
            try ops.commit("Environments/production.yaml", TrustAttackTests.evil(version: "6.6.6", listen: port, marker: marker), signedWith: bob.key)
            try Command.git(["merge", "-q", "--no-edit", "main"], in: ops.workTree)
            try Command.git(["checkout", "-q", "main"], in: ops.workTree)
            try Command.git(["merge", "-q", "--ff-only", "bob"], in: ops.workTree)
            let apply = try ops.slipway(["apply"])
            #expect(apply.status == 1 && apply.output.contains("does not list"), "\(apply.output)")
            #expect(!FileManager.default.fileExists(atPath: marker.path))
            #expect(fetch(port)?.body == "web 1.0.0\n")
        }
    }

    @Test("a machine that never deployed takes the oldest Trust/ as its root, not one deleted and made anew")
    func rootNotReset() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), marker = ops.root.appendingPathComponent("pwned")
            let alice = try ops.sshKey("alice"), mallory = try ops.sshKey("mallory")
            try ops.trustedRelease(by: alice, listen: port, apply: false)
            try ops.commit("Trust", nil)
            try ops.commit("Trust/allowed_signers", mallory.signer + "\n", signedWith: nil)
            try ops.commit("Environments/production.yaml", TrustAttackTests.evil(version: "6.6.6", listen: port, marker: marker), signedWith: mallory.key)
            let apply = try ops.slipway(["apply"])
            #expect(apply.status == 1 && apply.output.contains("does not list"), "\(apply.output)")
            #expect(!FileManager.default.fileExists(atPath: marker.path) && ops.instances("production").isEmpty)
            let shown = try Command.slipway(["trust", "show", "--repo", ops.repo.path])
            #expect(shown.stdout.contains("alice@example.com") && !shown.stdout.contains("mallory"), "\(shown.output)")
        }
    }

    @Test("the pre-receive hook refuses a branch moved back, an unsigned commit pushed as a tag first, and Trust/ deleted unsigned; it keeps no state")
    func hookOnRewrites() async throws {
        try await OpsRepoFixture.with(bare: true) { ops in
            #expect(try Command.slipway(["hooks", "install", "--server", "--repo", ops.repo.path]).status == 0)
            let port = try Ports.free(), marker = ops.root.appendingPathComponent("pwned")
            let alice = try ops.sshKey("alice")
            let push = { (refspec: String) in
                try Command.run(URL(fileURLWithPath: "/usr/bin/git"), ["push", "-q", "-f", "origin", refspec], directory: ops.workTree)
            }
            try ops.commit("Trust/allowed_signers", alice.signer + "\n", signedWith: alice.key)
            let first = try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: port), signedWith: alice.key)
            #expect(try push("HEAD:main").status == 0)
            let second = try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", replicas: 1, listen: port), signedWith: alice.key)
            #expect(try push("HEAD:main").status == 0)

            let back = try push("\(first):main")
            #expect(back.status != 0 && back.stderr.contains("judged before"), "\(back.stderr)")
            let validated = try ops.slipway(["validate", "--ref", first, "--signed-since", second, "--ref-name", "refs/heads/main"])
            #expect(validated.status == 1 && validated.stderr.contains("replaced since"), "what the hook runs: \(validated.output)")
            #expect(try push("\(first):refs/tags/v1").status == 0, "a tag of an old release is fine: tags do not deploy")

            let evil = try ops.commit("Environments/production.yaml", TrustAttackTests.evil(version: "6.6.6", listen: port, marker: marker), signedWith: nil)
            let tagged = try push("HEAD:refs/tags/evil")
            #expect(tagged.status != 0 && tagged.stderr.contains("is not signed"), "\(tagged.stderr)")
            #expect(try push("HEAD:main").status != 0)

            try Command.git(["reset", "-q", "--hard", second], in: ops.workTree)
            try ops.commit("Trust", nil)
            try ops.commit("Environments/production.yaml", TrustAttackTests.evil(version: "6.6.7", listen: port, marker: marker), signedWith: nil)
            let untrusted = try push("HEAD:main")
            #expect(untrusted.status != 0 && untrusted.stderr.contains("is not signed"), "\(untrusted.stderr)")

            let server = try Command.git(["rev-parse", "main"], in: ops.repo).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(server == second && (try? Command.git(["cat-file", "-e", evil], in: ops.repo)) == nil)
            let empty = try Command.git(["mktree"], in: ops.workTree, input: Data()).trimmingCharacters(in: .whitespacesAndNewlines)
            let wipe = try Command.git(["commit-tree", "-m", "wipe", empty], in: ops.workTree).trimmingCharacters(in: .whitespacesAndNewlines)
            let wiped = try push("\(wipe):main")
            #expect(wiped.status != 0 && wiped.stderr.contains("cannot leave the branch"), "\(wiped.stderr)")
            let judged = try push("\(second):refs/slipway/judged")
            #expect(judged.status != 0 && judged.stderr.contains("Slipway's own"), "\(judged.stderr)")
            let records = try Command.git(["hash-object", "-w", "--stdin"], in: ops.workTree, input: Data("x\n".utf8)).trimmingCharacters(in: .whitespacesAndNewlines)
            let blocking = try Command.git(["mktree"], in: ops.workTree, input: Data("100644 blob \(records)\tDeployments\n".utf8)).trimmingCharacters(in: .whitespacesAndNewlines)
            let blocked = try Command.git(["commit-tree", "-p", second, "-m", "block", blocking], in: ops.workTree).trimmingCharacters(in: .whitespacesAndNewlines)
            let refusedBlock = try push("\(blocked):main")
            #expect(refusedBlock.status != 0 && refusedBlock.stderr.contains("Deployments is a file"), "\(refusedBlock.stderr)")
            let deleted = try push(":main")
            #expect(deleted.status != 0 && deleted.stderr.contains("cannot be deleted"), "\(deleted.stderr)")
            #expect(!FileManager.default.fileExists(atPath: ops.stateDirectory.appendingPathComponent("trust/ledger.json").path), "the hook keeps no ledger")
            let pinned = try String(contentsOf: ops.stateDirectory.appendingPathComponent("trust/pinned"), encoding: .utf8)
            let aliceTrust = try Command.git(["rev-parse", "\(first):Trust"], in: ops.repo)
            #expect(pinned == aliceTrust, "post-receive pinned the first Trust/ that landed, and nothing a refused push brought")
        }
    }

    @Test("a signer who hands over to another key in a commit they sign: the machine and the server hook take it, then the new key's changes")
    func handOver() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), alice = try ops.sshKey("alice"), bob = try ops.sshKey("bob")
            try ops.trustedRelease(by: alice, listen: port)
            try ops.commit("Trust/allowed_signers", bob.signer + "\n", signedWith: alice.key)
            try ops.commit("Environments/production.yaml", testManifest(version: "1.1.0", replicas: 1, listen: port), signedWith: bob.key)
            let apply = try ops.slipway(["apply"])
            #expect(apply.status == 0, "\(apply.output)")
            #expect(fetch(port)?.body == "web 1.1.0\n")
        }
        try await OpsRepoFixture.with(bare: true) { ops in
            #expect(try Command.slipway(["hooks", "install", "--server", "--repo", ops.repo.path]).status == 0)
            let alice = try ops.sshKey("alice"), bob = try ops.sshKey("bob")
            let push = { try Command.run(URL(fileURLWithPath: "/usr/bin/git"), ["push", "-q", "origin", "HEAD:main"], directory: ops.workTree) }
            try ops.commit("Trust/allowed_signers", alice.signer + "\n", signedWith: alice.key)
            #expect(try push().status == 0)
            try ops.commit("Trust/allowed_signers", bob.signer + "\n", signedWith: alice.key)
            try ops.commit("Environments/production.yaml", testManifest(version: "1.1.0", replicas: 1, listen: 8080), signedWith: bob.key)
            let pushed = try push()
            #expect(pushed.status == 0, "\(pushed.stderr)")
        }
    }

    @Test("merges nobody signed that only combine signed changes count, a Trust/ change merged in included; unsigned junk in Trust/ does not block the next signed change")
    func unsignedMerges() async throws {
        try await OpsRepoFixture.with(bare: true) { ops in
            #expect(try Command.slipway(["hooks", "install", "--server", "--repo", ops.repo.path]).status == 0)
            let port = try Ports.free(), alice = try ops.sshKey("alice"), carol = try ops.sshKey("carol")
            let push = { try Command.run(URL(fileURLWithPath: "/usr/bin/git"), ["push", "-q", "origin", "HEAD:main"], directory: ops.workTree) }
            try ops.commit("Trust/allowed_signers", alice.signer + "\n", signedWith: alice.key)
            try ops.commit("Environments/staging.yaml", testManifest(version: "1.0.0", replicas: 1, listen: port), signedWith: alice.key)
            #expect(try push().status == 0)
            let base = try ops.git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
            try Command.git(["checkout", "-q", "-b", "side", base], in: ops.workTree)
            try ops.commit("Trust/allowed_signers", alice.signer + "\n" + carol.signer + "\n", signedWith: alice.key)
            try Command.git(["checkout", "-q", "main"], in: ops.workTree)
            try ops.commit("Environments/staging.yaml", testManifest(version: "1.1.0", replicas: 1, listen: port), signedWith: alice.key)
            try Command.git(["merge", "-q", "--no-edit", "side"], in: ops.workTree)  // what git pull makes: not signed
            let merged = try push()
            #expect(merged.status == 0, "\(merged.stderr)")
            let apply = try Command.slipway(["apply", "--repo", ops.workTree.path])
            #expect(apply.status == 0, "\(apply.output)")
            try ops.commit("Environments/staging.yaml", testManifest(version: "1.2.0", replicas: 1, listen: port), signedWith: carol.key)
            let byCarol = try Command.slipway(["apply", "--repo", ops.workTree.path])
            #expect(byCarol.status == 0 && fetch(port)?.body == "web 1.2.0\n", "carol counts once the merge brought her key: \(byCarol.output)")

            // bob signs nothing; alice signs the merge of his branch.
            try Command.git(["checkout", "-q", "-b", "bob"], in: ops.workTree)
            try ops.commit("Environments/staging.yaml", testManifest(version: "1.2.5", replicas: 1, listen: port), signedWith: nil)
            try Command.git(["checkout", "-q", "main"], in: ops.workTree)
            try ops.commit("README.md", "ops\n", signedWith: nil)
            try signedGit(ops, key: alice.key, ["merge", "-q", "-S", "--no-ff", "--no-edit", "bob"])
            let signedMerge = try push()
            #expect(signedMerge.status == 0, "\(signedMerge.stderr)")
            let bobs = try Command.slipway(["apply", "--repo", ops.workTree.path])
            #expect(bobs.status == 0 && fetch(port)?.body == "web 1.2.5\n", "\(bobs.output)")

            try ops.commit("Trust/junk", "x\n", signedWith: nil)  // reaches the branch unsigned (no hook on the daemon's clone)
            #expect(try Command.slipway(["apply", "--repo", ops.workTree.path]).status == 0)
            try ops.commit("Trust/junk", nil, signedWith: alice.key)
            try ops.commit("Environments/staging.yaml", testManifest(version: "1.3.0", replicas: 1, listen: port), signedWith: carol.key)
            let after = try Command.slipway(["apply", "--repo", ops.workTree.path])
            #expect(after.status == 0 && fetch(port)?.body == "web 1.3.0\n", "\(after.output)")
            #expect(try Command.slipway(["down", "--repo", ops.workTree.path]).status == 0)
        }
    }

    @Test("a machine that never deployed refuses everything once Trust/ is deleted at the tip: deleting it does not turn checking off")
    func deletedTrustOnNewMachine() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), marker = ops.root.appendingPathComponent("pwned"), alice = try ops.sshKey("alice")
            try ops.trustedRelease(by: alice, listen: port, apply: false)
            try ops.commit("Trust", nil)
            try ops.commit("Environments/production.yaml", TrustAttackTests.evil(version: "6.6.6", listen: port, marker: marker), signedWith: nil)
            let apply = try ops.slipway(["apply"])
            #expect(apply.status == 1 && apply.output.contains("Trust/ is gone"), "\(apply.output)")
            #expect(!FileManager.default.fileExists(atPath: marker.path) && ops.instances("production").isEmpty)
        }
    }

    @Test("an old approval does not count again: a merge that lists an old approved commit first neither retries a failed manifest nor approves it")
    func approvalReplay() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), alice = try ops.sshKey("alice")
            // gated: going back to the previous version would otherwise skip the checklist (an emergency rollback).
            let gates = "gates: { checklist: [\"DB migrated\"], approvalTimeout: 1s }\nrollback: { gated: true }"
            try ops.commit("Trust/allowed_signers", alice.signer + "\n", signedWith: alice.key)
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: port, rollback: gates), signedWith: alice.key)
            #expect(try ops.slipway(["approve", "production", "--by", "Alex <alex@example.com>"]).status == 0)
            let approval = try ops.git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try ops.slipway(["apply"]).status == 0)
            let second = try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", replicas: 1, listen: port, rollback: gates), signedWith: alice.key)
            #expect(try ops.slipway(["approve", "production", "--by", "Alex <alex@example.com>"]).status == 0)
            #expect(try ops.slipway(["apply"]).status == 0)
            try signedGit(ops, key: alice.key, ["revert", "--no-edit", "-S", second])
            #expect(try ops.slipway(["apply"]).status == 1, "the revert waits for an approval of its own and times out")

            let tip = try ops.git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
            let merge = try ops.git(["commit-tree", "\(tip)^{tree}", "-p", approval, "-p", tip, "-m", "merge"]).trimmingCharacters(in: .whitespacesAndNewlines)
            try Command.git(["reset", "-q", "--hard", merge], in: ops.workTree)
            let apply = try ops.slipway(["apply"])
            #expect(apply.status == 0 && !apply.output.contains("succeeded"), "not tried again: \(apply.output)")
            let retried = try ops.slipway(["apply", "--retry-failed"])
            #expect(retried.status == 1 && retried.output.contains("approval timed out"), "\(retried.output)")
            #expect(fetch(port)?.body == "web 2.0.0\n")
        }
    }

    @Test("a signed merge vouches only for what it brought in from its other side, not for an unsigned commit already on its first parent")
    func signedMergeVouchesForItsSideOnly() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), marker = ops.root.appendingPathComponent("pwned"), alice = try ops.sshKey("alice")
            try ops.trustedRelease(by: alice, listen: port, apply: false)
            try Command.git(["checkout", "-q", "-b", "feature"], in: ops.workTree)
            try ops.commit("README.md", "docs\n", signedWith: alice.key)
            try Command.git(["checkout", "-q", "main"], in: ops.workTree)
            try ops.commit("Environments/production.yaml", TrustAttackTests.evil(version: "6.6.6", listen: port, marker: marker), signedWith: nil)
            try signedGit(ops, key: alice.key, ["merge", "-q", "-S", "--no-ff", "--no-edit", "feature"])
            let apply = try ops.slipway(["apply"])
            #expect(apply.status == 1 && apply.output.contains("is not signed"), "\(apply.output)")
            #expect(!FileManager.default.fileExists(atPath: marker.path))
        }
    }

    @Test("a key removed on the deployed branch does not count on another branch kept at an old commit, for a new machine or the server")
    func removedKeyOnAnotherBranch() async throws {
        try await OpsRepoFixture.with(bare: true) { ops in
            #expect(try Command.slipway(["hooks", "install", "--server", "--repo", ops.repo.path]).status == 0)
            let port = try Ports.free(), marker = ops.root.appendingPathComponent("pwned")
            let alice = try ops.sshKey("alice"), mallory = try ops.sshKey("mallory")
            let push = { (refspec: String) in
                try Command.run(URL(fileURLWithPath: "/usr/bin/git"), ["push", "-q", "-f", "origin", refspec], directory: ops.workTree)
            }
            try ops.commit("Trust/allowed_signers", alice.signer + "\n" + mallory.signer + "\n", signedWith: alice.key)
            let old = try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: port), signedWith: alice.key)
            #expect(try push("HEAD:main").status == 0)
            try ops.commit("Trust/allowed_signers", alice.signer + "\n", signedWith: alice.key)  // mallory removed
            #expect(try push("HEAD:main").status == 0)
            #expect(try push("\(old):refs/heads/prod").status == 0, "a branch at an old commit brings nothing new")
            try Command.git(["checkout", "-q", "-b", "prod", old], in: ops.workTree)
            try ops.commit("Environments/production.yaml", TrustAttackTests.evil(version: "6.6.6", listen: port, marker: marker), signedWith: mallory.key)
            let pushed = try push("HEAD:prod")
            #expect(pushed.status != 0 && pushed.stderr.contains("does not list"), "\(pushed.stderr)")

            // A new machine given main's Trust/ as its root, deploying the old branch.
            #expect(try Command.slipway(["trust", "pin", "--repo", ops.workTree.path, "main"]).status == 0)
            let apply = try Command.slipway(["apply", "--repo", ops.workTree.path, "--branch", "prod"])
            #expect(apply.status == 1, "\(apply.output)")
            #expect(!FileManager.default.fileExists(atPath: marker.path))
            _ = try Command.slipway(["down", "--repo", ops.workTree.path])
        }
    }

    @Test("a commit judged and then force-pushed away does not freeze what counts as judged: a later rewind is still refused")
    func judgedLineNeverFreezes() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), alice = try ops.sshKey("alice")
            _ = try twoReleases(ops, port: port, alice: alice)
            let tip = try ops.git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
            try ops.commit("README.md", "judged, then taken away\n", signedWith: nil)
            #expect(try ops.slipway(["apply"]).status == 0)
            try Command.git(["reset", "-q", "--hard", tip], in: ops.workTree)
            #expect(try ops.slipway(["apply"]).status == 0)
            // Releases signed after that: the later one replaces the earlier, which must not come back.
            let third = try ops.commit("Environments/production.yaml", testManifest(version: "3.0.0", replicas: 1, listen: port), signedWith: alice.key)
            #expect(try ops.slipway(["apply"]).status == 0)
            try ops.commit("Environments/production.yaml", testManifest(version: "4.0.0", replicas: 1, listen: port), signedWith: alice.key)
            #expect(try ops.slipway(["apply"]).status == 0)
            #expect(fetch(port)?.body == "web 4.0.0\n")
            try Command.git(["reset", "-q", "--hard", third], in: ops.workTree)
            let rewound = try ops.slipway(["apply"])
            #expect(rewound.status == 1 && rewound.output.contains("judged before"), "\(rewound.output)")
            #expect(fetch(port)?.body == "web 4.0.0\n")
        }
    }

    /// A copy of signed `commit` whose signature is wrapped differently: another commit id, the
    /// same signed content (what a signature covers does not include the signature's own text).
    func twin(of commit: String, _ ops: OpsRepoFixture) throws -> String {
        var lines = try Command.git(["cat-file", "commit", commit], in: ops.workTree).components(separatedBy: "\n")
        let first = try #require(lines.firstIndex { $0.hasPrefix("gpgsig ") }) + 1
        let armored = lines[first]
        lines.replaceSubrange(first...first, with: [String(armored.prefix(20)), " " + armored.dropFirst(20)])
        let copy = try Command.git(["hash-object", "-t", "commit", "-w", "--stdin"], in: ops.workTree, input: Data(lines.joined(separator: "\n").utf8))
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(copy != commit)
        return copy
    }

    @Test("a copy of an old signed release with its signature re-encoded is the same old release: not deployed again")
    func reencodedSignature() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), alice = try ops.sshKey("alice")
            let (first, _) = try twoReleases(ops, port: port, alice: alice)
            let copy = try twin(of: first, ops)
            try Command.git(["merge", "-q", "-s", "ours", "--no-commit", copy], in: ops.workTree)
            try Command.git(["checkout", copy, "--", "Environments/production.yaml"], in: ops.workTree)
            try Command.git(["commit", "-q", "-m", "Merge"], in: ops.workTree)
            let apply = try ops.slipway(["apply"])
            #expect(apply.status == 1 && apply.output.contains("judged before"), "\(apply.output)")
            #expect(fetch(port)?.body == "web 2.0.0\n")
        }
    }

    @Test("a copy of an old signed approval with its signature re-encoded does not approve a later request")
    func reencodedApproval() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), alice = try ops.sshKey("alice")
            // gated: going back to the previous version would otherwise skip the checklist (an emergency rollback).
            let gates = "gates: { checklist: [\"DB migrated\"], approvalTimeout: 1s }\nrollback: { gated: true }"
            try ops.commit("Trust/allowed_signers", alice.signer + "\n", signedWith: alice.key)
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: port, rollback: gates), signedWith: alice.key)
            let blob = try ops.git(["rev-parse", "HEAD:Environments/production.yaml"]).trimmingCharacters(in: .whitespacesAndNewlines)
            let approval = try ops.commit("Approvals/production/by-alice.md", "approved\n", signedWith: alice.key,
                                          message: "approve(production): web 1.0.0\n\nSlipway-Approval: production\nSlipway-Manifest: \(blob)")
            #expect(try ops.slipway(["apply"]).status == 0)
            let second = try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", replicas: 1, listen: port), signedWith: alice.key)
            #expect(try ops.slipway(["apply"]).status == 0)
            try signedGit(ops, key: alice.key, ["revert", "--no-edit", "-S", second])  // back to 1.0.0: a new request, a new approval
            #expect(try ops.slipway(["apply"]).status == 1, "waits for an approval of its own")
            let copy = try twin(of: approval, ops)
            let tip = try ops.git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
            let merge = try ops.git(["commit-tree", "\(tip)^{tree}", "-p", copy, "-p", tip, "-m", "merge"]).trimmingCharacters(in: .whitespacesAndNewlines)
            try Command.git(["reset", "-q", "--hard", merge], in: ops.workTree)
            for retry in [[], ["--retry-failed"]] {
                let apply = try ops.slipway(["apply"] + retry)
                #expect(!apply.output.contains("succeeded") && !apply.output.contains("approved by"), "\(apply.output)")
            }
            #expect(fetch(port)?.body == "web 2.0.0\n")
        }
    }

    @Test("the hook knows what the branch held on any of its lines: a merge that hangs the branch off an orphan does not make an old release new")
    func hookAnyLine() async throws {
        try await OpsRepoFixture.with(bare: true) { ops in
            #expect(try Command.slipway(["hooks", "install", "--server", "--repo", ops.repo.path]).status == 0)
            let port = try Ports.free(), alice = try ops.sshKey("alice")
            let push = { (refspec: String) in
                try Command.run(URL(fileURLWithPath: "/usr/bin/git"), ["push", "-q", "-f", "origin", refspec], directory: ops.workTree)
            }
            try ops.commit("Trust/allowed_signers", alice.signer + "\n", signedWith: alice.key)
            let first = try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: port), signedWith: alice.key)
            try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", replicas: 1, listen: port), signedWith: alice.key)
            #expect(try push("HEAD:main").status == 0)
            let main = try Command.git(["rev-parse", "HEAD"], in: ops.workTree).trimmingCharacters(in: .whitespacesAndNewlines)
            let empty = try Command.git(["mktree"], in: ops.workTree, input: Data()).trimmingCharacters(in: .whitespacesAndNewlines)
            let orphan = try Command.git(["commit-tree", "-m", "orphan", empty], in: ops.workTree).trimmingCharacters(in: .whitespacesAndNewlines)
            let hung = try Command.git(["commit-tree", "-p", orphan, "-p", main, "-m", "merge", "\(main)^{tree}"], in: ops.workTree)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try push("\(hung):main").status == 0, "no trusted file changes")
            try Command.git(["reset", "-q", "--hard", hung], in: ops.workTree)
            try Command.git(["checkout", first, "--", "Environments/production.yaml"], in: ops.workTree)
            let tree = try Command.git(["write-tree"], in: ops.workTree).trimmingCharacters(in: .whitespacesAndNewlines)
            let back = try Command.git(["commit-tree", "-p", hung, "-p", first, "-m", "merge", tree], in: ops.workTree)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let refused = try push("\(back):main")
            #expect(refused.status != 0 && refused.stderr.contains("judged before"), "\(refused.stderr)")
        }
    }
}
