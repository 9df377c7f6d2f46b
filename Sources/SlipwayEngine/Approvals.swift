import Foundation
public import SlipwayGit
public import SlipwayManifest
import SlipwayRecords

/// An approval a person committed with `slipway approve ENV`.
public struct Approval: Sendable {
    public let environment: String
    public let manifest: String
    public let version: String
    public let approver: String
    public let commit: ObjectID
}

extension OpsRepository {
    /// Commits an approval of the manifest `Environments/<env>.yaml` has at the tip, by
    /// `approver`: `Approvals/<env>/<time>-<blob>.md` with trailers naming what it approves.
    public func approve(_ name: EnvironmentName, by approver: Signature) async throws -> Approval {
        let tip = try await tip()
        guard let blob = try await git.blobID(at: name.manifestPath, in: tip) else {
            throw EngineError("no \(name.manifestPath) to approve")
        }
        let manifest = try ManifestParser.parse(try await git.readBlob(blob), path: name.manifestPath)
        let now = Date()
        let text = """
            ---
            environment: \(name)
            service: \(manifest.service)
            version: \(manifest.version)
            manifest: \(blob.hex)
            approver: \(approver.name) <\(approver.email)>
            approvedAt: \(Timestamp.iso(now))
            ---
            # Approval: \(name) \(manifest.service) \(manifest.version)

            \(approver.name) approved the manifest \(blob.short) of \(name) at \(Timestamp.iso(now)).

            """
        let message = """
            approve(\(name)): \(manifest.service) \(manifest.version)

            \(Trailers.approval): \(name)
            \(Trailers.version): \(manifest.version)
            \(Trailers.manifest): \(blob.hex)

            """
        let path = "Approvals/\(name)/\(Timestamp.compact(now))-\(blob.short).md"
        let commit = try await git.commit([FileUpdate(path: path, content: Data(text.utf8))], message: message, author: approver, onto: branch)
        return Approval(environment: name.rawValue, manifest: blob.hex, version: manifest.version,
                        approver: "\(approver.name) <\(approver.email)>", commit: commit)
    }

    /// The newest approval of `manifest` for `name` committed after `since` (first-parent history).
    public func approval(of name: EnvironmentName, manifest: String, since: ObjectID) async throws -> Approval? {
        guard let tip = try await git.resolve(ref: branch) else { return nil }
        var found: Approval?
        try await git.walk(from: tip, containing: "") { commit in
            if commit.id == since { return false }
            let trailers = Trailers.parse(commit.message)
            guard trailers[Trailers.approval] == name.rawValue, trailers[Trailers.manifest] == manifest else { return true }
            found = Approval(environment: name.rawValue, manifest: manifest, version: trailers[Trailers.version] ?? "",
                             approver: "", commit: commit.id)
            return false
        }
        guard let approval = found else { return nil }
        let info = try await git.commitInfo(approval.commit)
        return Approval(environment: approval.environment, manifest: manifest, version: approval.version,
                        approver: "\(info.authorName) <\(info.authorEmail)>", commit: approval.commit)
    }
}
