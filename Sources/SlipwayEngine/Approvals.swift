import Foundation
public import SlipwayGit
public import SlipwayManifest
import SlipwayRecords
public import SlipwayCore

/// An approval a person committed with `slipway approve ENV`.
public struct Approval: Sendable {
    public let environment: String
    public let manifest: ObjectID
    public let version: String
    public let approver: String
    public let commit: ObjectID
    /// The checklist items the approver ticked (the manifest's `gates.checklist`).
    public var items: [String] = []
}

extension OpsRepository {
    /// Commits an approval of the manifest `Environments/<env>.yaml` has at the tip, by
    /// `approver`: `Approvals/<env>/<time>-<blob>.md` with trailers naming what it approves.
    public func approve(_ name: EnvironmentName, by approver: Signature, state: StateDirectory) async throws -> Approval {
        let tip = try await tip()
        guard let blob = try await git.blobID(at: name.manifestPath, in: tip) else {
            throw EngineError("no \(name.manifestPath) to approve")
        }
        // Under Trust/, only a manifest that counts: approving another would only make the real request wait.
        var check = TrustCheck(repository: self, state: state, resolver: .standard())
        var verdict = try await check.acceptance(of: name.manifestPath, blob: blob)
        let ledger = TrustLedger.load(state)
        if case .refused = verdict, ledger?.refused[name.manifestPath]?.blob != blob {
            check.remembers = false  // not judged at this tip yet: judged here, keeping nothing
            verdict = try await check.judge(at: tip, ledger: ledger, pins: TrustCheck.pins(state), acceptedBefore: { JudgedHistory.load(state) })
                .verdicts.verdict(name.manifestPath)
        }
        if case .refused(let why) = verdict {
            throw EngineError("\(name.manifestPath) at \(tip.short) does not count under \(TrustCheck.folder)/, so it cannot be approved: \(why)")
        }
        let manifest = try ManifestParser.parse(try await git.readBlob(blob), path: name.manifestPath)
        // An approval nobody asked for (a typo of the environment, a manifest without a gate) would only sit in history.
        let waits = if case .blueGreen(let spec) = manifest.strategy { !spec.autoPromote } else { false }
        guard waits || !manifest.gates.checklist.isEmpty else {
            throw EngineError("nothing in \(name) waits for an approval: \(name.manifestPath) has no gates.checklist and no blueGreen autoPromote: false")
        }
        let now = Date()
        let text = """
            ---
            environment: \(name)
            service: \(manifest.service)
            version: \(manifest.version)
            manifest: \(blob.hex)
            approver: \(approver.name) <\(approver.email)>
            approvedAt: \(Timestamp.iso(now))
            items: [\(manifest.gates.checklist.map { "\"\($0.replacingOccurrences(of: "\"", with: "'"))\"" }.joined(separator: ", "))]
            ---
            # Approval: \(name) \(manifest.service) \(manifest.version)

            \(approver.name) approved the manifest \(blob.short) of \(name) at \(Timestamp.iso(now)).
            \(manifest.gates.checklist.map { "\n- [x] \($0)" }.joined())

            """
        let message = CommitMessage.approve(environment: name, service: manifest.service, version: manifest.version, manifest: blob)
        let path = "Approvals/\(name)/\(Timestamp.compact(now))-\(blob.short).md"
        let commit = try await git.commit([FileUpdate(path: path, content: Data(text.utf8))], message: message, author: approver, onto: branch)
        return Approval(environment: name.rawValue, manifest: blob, version: manifest.version,
                        approver: "\(approver.name) <\(approver.email)>", commit: commit, items: manifest.gates.checklist)
    }

    /// Approvals of `manifest` for `name` committed after `since` (first-parent history down to
    /// `since` or the first commit before it, each made on top of `since`: never older ones, nor
    /// copies of them), newest first.
    public func approvals(of name: EnvironmentName, manifest: ObjectID, since: ObjectID) async throws -> [Approval] {
        guard let tip = try await git.resolve(ref: branch) else { return [] }
        var found: [(ObjectID, String)] = []
        try await git.walk(from: tip, containing: "", after: since) { commit in
            let trailers = Trailers.parse(commit.message)
            if trailers[Trailers.approval] == name.rawValue, trailers[Trailers.manifest] == manifest.hex {
                found.append((commit.id, trailers[Trailers.version] ?? ""))
            }
            return true
        }
        var approvals: [Approval] = []
        for (commit, version) in found {
            let info = try await git.commitInfo(commit)
            // Made on top of `since`: a copy of an older approval (its signature re-encoded) sits on older history.
            guard let parent = info.parents.first, try await git.isAncestor(since, of: parent) else { continue }
            approvals.append(Approval(environment: name.rawValue, manifest: manifest, version: version,
                                      approver: "\(info.authorName) <\(info.authorEmail)>", commit: commit))
        }
        return approvals
    }
}

extension OpsRepository {
    /// Waits (bounded) for an approval of `manifest` committed after `since`; progress says what
    /// to run. Throws a failure that names the timeout.
    /// Under `Trust/`, an approval counts only when its commit is signed by an allowed signer
    /// or was made by `slipway approve` on this machine.
    /// - Parameter checklist: what the approver confirms (none for a blue-green switch).
    func awaitApproval(of name: EnvironmentName, manifest: ObjectID, since: ObjectID, timeout: TimeSpan, trust: TrustCheck,
                       checklist: [String] = [], log: RunLog) async throws -> Approval {
        let deadline = ContinuousClock.now + timeout.duration
        log.report(log.phaseInProgress?.percent(0.5) ?? 0, "\(EnvironmentView.waitingForApproval) \(name)")
        log.announce?(.waiting, "\(name): waiting for approval: slipway approve \(name)") { event in
            event.approve = "slipway approve \(name)"
            event.checklist = checklist.isEmpty ? nil : checklist
        }
        var refused: [ObjectID: String] = [:]
        while ContinuousClock.now < deadline {
            for approval in try await approvals(of: name, manifest: manifest, since: since) where refused[approval.commit] == nil {
                guard case .refused(let why) = try await trust.verify(approval.commit) else { return approval }
                refused[approval.commit] = why
            }
            try await log.pause(for: .milliseconds(250))
        }
        let ignored = refused.isEmpty ? "" : " (not counted: \(refused.values.sorted().joined(separator: "; ")))"
        throw DeploymentFailure(reason: "approval timed out after \(timeout)\(ignored): run slipway approve \(name), then apply again")
    }
}
