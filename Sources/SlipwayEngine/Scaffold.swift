import Foundation
public import SlipwayGit
import SlipwayBundle

/// Creates a new ops repo: the example manifests and the templates, in one commit.
public enum Scaffold {
    /// Initialises (or reuses) the repository at `path` and commits `Environments/` and
    /// `Templates/`. Refuses when the repository already has an `Environments/` folder.
    @discardableResult
    public static func create(at path: String, author fallback: Signature) async throws -> GitRepository {
        let existing = try? GitRepository(path: path)
        let git: GitRepository
        if let existing, existing.workingDirectory?.standardizedFileURL.path == URL(fileURLWithPath: path).standardizedFileURL.path {
            git = existing
        } else {
            git = try GitRepository.initialize(path: path)
        }
        let branch = try await git.headBranch()
        if let tip = try await git.resolve(ref: branch), try await git.listDirectory("Environments", at: tip) != nil {
            throw EngineError("\(path) already has Environments/: it is an ops repo already")
        }
        if let root = git.workingDirectory, FileManager.default.fileExists(atPath: root.appendingPathComponent("Environments").path) {
            throw EngineError("\(root.path)/Environments exists: move it away or commit it as your ops repo")
        }
        let files = Defaults.environments.map { FileUpdate(path: "Environments/\($0.key)", content: Data($0.value.utf8)) }
            + Defaults.templates.map { FileUpdate(path: "Templates/\($0.key)", content: Data($0.value.utf8)) }
        let author = await git.defaultSignature() ?? fallback
        try await git.commit(files.sorted { $0.path < $1.path }, message: "Start an ops repo with slipway init\n", author: author, onto: branch)
        return git
    }
}
