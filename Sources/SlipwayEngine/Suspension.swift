import Foundation
public import SlipwayCore
public import SlipwayGit
import SlipwayManifest

extension OpsRepository {
    /// `slipway suspend` / `slipway resume`: sets or removes the manifest's `suspended:` line
    /// in one commit, so that git says who paused an environment, when and why. A suspended
    /// environment is left as it is: nothing deploys, heals or repairs it.
    /// - Parameter reason: nil resumes.
    public func suspend(_ name: EnvironmentName, reason: String?, by author: Signature) async throws -> ObjectID {
        let tip = try await tip()
        guard let blob = try await git.blobID(at: name.manifestPath, in: tip) else { throw EngineError("no \(name.manifestPath) at the tip") }
        let text = String(decoding: try await git.readBlob(blob), as: UTF8.self)
        let manifest = try ManifestParser.parse(Data(text.utf8), path: name.manifestPath)
        switch (reason, manifest.suspended) {
        case (nil, nil): throw EngineError("\(name) is not suspended")
        case (_?, let already?): throw EngineError("\(name) is suspended already: \(already)")
        default: break
        }
        let line = reason.map { reason in
            let text = "\(reason) (\(author.name), \(Timestamp.iso(Date())))"
            return "suspended: \"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        let message = reason.map { "suspend(\(name)): \($0)\n\nSlipway-Suspend: \(name)\n" } ?? "resume(\(name))\n\nSlipway-Resume: \(name)\n"
        let commit = try await git.commit([FileUpdate(path: name.manifestPath, content: Data(Self.settingSuspended(line, in: text).utf8))],
                                          message: message, author: author, onto: branch, requiring: [name.manifestPath: blob])
        guard let commit else { throw EngineError("\(name.manifestPath) changed meanwhile; try again") }
        return commit
    }

    /// The manifest text with its top-level `suspended:` line replaced by `line` (nil: removed).
    static func settingSuspended(_ line: String?, in text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.hasPrefix("suspended:") }
        if let line {
            if lines.last == "" { lines.insert(line, at: lines.count - 1) } else { lines.append(line) }
        }
        return lines.joined(separator: "\n")
    }
}
