import Foundation
public import Logging
public import ServiceLifecycle
public import SlipwayEngine
import SlipwayGit
import SlipwayHost
import SlipwayCore

/// `slipway watch --remote URL`: the ops repo lives elsewhere; Slipway keeps its own bare
/// clone, fetches it on every wake-up of the loop, and pushes its record commits back fast-forward only.
/// When a push is refused because someone pushed meanwhile, Slipway fetches, re-creates its
/// own commits on the new tip, and pushes again; it never forces.
///
/// Fetch and push go through the `git` program: libgit2's local transport writes the remote
/// ref without comparing its old value and skips the remote's hooks, while git's
/// receive-pack updates it atomically from the value Slipway saw (and runs pre-receive).
public actor RemoteSync {
    let url: String
    let repository: OpsRepository
    let state: StateDirectory
    let logger: Logger
    /// The remote-tracking ref of the branch (`refs/remotes/origin/main`).
    let tracking: String
    /// The last commit Slipway saw on the remote or pushed there; unlike the tracking ref, a
    /// fetch never prunes it, so what reached the remote once is known however the remote moves.
    static let reached = "refs/slipway/reached"

    public init(url: String, repository: OpsRepository, state: StateDirectory, logger: Logger) {
        self.url = url
        self.repository = repository
        self.state = state
        self.logger = logger
        tracking = "refs/remotes/origin/" + repository.branch.replacingOccurrences(of: "refs/heads/", with: "")
    }

    /// Makes the bare clone at `path` when there is none yet.
    public static func cloneIfMissing(_ url: String, to path: String) async throws {
        let gitDirectory = URL(fileURLWithPath: path)
        if FileManager.default.fileExists(atPath: gitDirectory.appendingPathComponent("HEAD").path) { return }
        let parent = gitDirectory.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        try await git(["clone", "--bare", "--quiet", url, gitDirectory.path], in: parent, log: parent.appendingPathComponent(".slipway-clone.log"))
        try await git(["--git-dir", gitDirectory.path, "config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*"],
                      in: parent, log: parent.appendingPathComponent(".slipway-clone.log"))
        try? FileManager.default.removeItem(at: parent.appendingPathComponent(".slipway-clone.log"))
    }

    /// Fetches, then brings the branch up to the remote: a fast-forward, or Slipway's own
    /// commits that are not pushed yet re-created on top of the remote's tip.
    public func pull() async throws {
        let git = repository.git
        let seen = [try await git.resolve(ref: tracking), try await git.resolve(ref: Self.reached)].compactMap { $0 }
        try await run(["fetch", "--quiet", "--prune", "origin"])
        guard let remote = try await git.resolve(ref: tracking) else { return }
        try await git.keep(remote, as: Self.reached)
        let local = try await git.resolve(ref: repository.branch)
        guard let local, local != remote else {
            if local == nil { _ = try await git.moveBranch(repository.branch, to: remote, from: nil, message: "slipway: first fetch") }
            return
        }
        if try await git.isAncestor(local, of: remote) {
            _ = try await git.moveBranch(repository.branch, to: remote, from: local, message: "slipway: fast-forward to origin")
            return
        }
        if try await git.isAncestor(remote, of: local) { return }  // ahead: push() sends them
        // Only commits that never reached the remote: after a force-push back, re-creating ones that
        // did would put old manifests (a revert, a promotion) back as Slipway's own on a base someone chose.
        var own: [ObjectID] = []
        for commit in try await git.commits(on: repository.branch, after: remote) {
            var reachedRemote = false
            for known in seen where try await git.isAncestor(commit, of: known) { reachedRemote = true }
            if !reachedRemote { own.append(commit) }
        }
        let result = try await git.replay(own, onto: remote) { conflicting in
            // A manifest someone changed meanwhile wins over Slipway's revert or promotion; records and status are Slipway's.
            !conflicting.contains { $0.hasPrefix(OpsRepository.environmentsDirectory + "/") }
        }
        guard try await git.moveBranch(repository.branch, to: result.tip, from: local, message: "slipway: re-create records on origin") else { return }
        for (old, new) in result.replayed where state.isOwnCommit(old) { state.rememberOwnCommit(new) }
        logger.notice("remote moved: own commits re-created on its tip", metadata: [
            "origin": "\(remote.short)", "replayed": "\(result.replayed.count)", "dropped": "\(result.dropped.map(\.short))",
        ])
    }

    /// Pushes the branch when it is ahead of the remote; on refusal pulls (re-creating
    /// Slipway's commits on the new tip) and tries again.
    public func push() async throws {
        for attempt in 1...5 {
            let git = repository.git
            guard let local = try await git.resolve(ref: repository.branch) else { return }
            if let remote = try await git.resolve(ref: tracking), try await git.isAncestor(local, of: remote) { return }
            let branch = repository.branch
            let result = try await Self.run(["--git-dir", git.gitDirectory.path, "push", "--quiet", "--porcelain", "origin", "\(branch):\(branch)"],
                                            log: state.root.appendingPathComponent("push.log"))
            if result.status == 0 {
                try await git.keep(local, as: Self.reached)
                try await run(["fetch", "--quiet", "origin"])
                logger.info("pushed", metadata: ["commit": "\(local.short)"])
                await pushNotes()
                return
            }
            logger.notice("push refused; fetching and re-creating own commits", metadata: [
                "attempt": "\(attempt)", "git": "\(result.output.split(separator: "\n").filter { $0.contains("!") || $0.contains("rejected") }.joined(separator: " "))",
            ])
            try await pull()
        }
        throw DaemonError("could not push to \(url) after 5 attempts; the records stay in \(repository.git.gitDirectory.path) and are pushed on the next pass")
    }

    /// Pushes the outcomes noted on release commits (`Engine.notesRef`) beside the records.
    /// Never forced: notes someone else pushed there stay, and a refusal is only logged.
    private func pushNotes() async {
        let git = repository.git
        guard (try? await git.resolve(ref: Engine.notesRef)) != nil else { return }
        let result = try? await Self.run(["--git-dir", git.gitDirectory.path, "push", "--quiet", "--porcelain", "origin", "\(Engine.notesRef):\(Engine.notesRef)"],
                                         log: state.root.appendingPathComponent("push.log"))
        if result?.status != 0 { logger.notice("the notes of outcomes were not pushed", metadata: ["git": "\(result?.output.suffix(300) ?? "")"]) }
    }

    private func run(_ arguments: [String]) async throws {
        try await Self.git(["--git-dir", repository.git.gitDirectory.path] + arguments, log: state.root.appendingPathComponent("git.log"))
    }

    private static func git(_ arguments: [String], in directory: URL? = nil, log: URL) async throws {
        let result = try await run(arguments, in: directory, log: log)
        guard result.status == 0 else { throw DaemonError("git \(arguments.joined(separator: " ")) failed: \(result.output.suffix(500))") }
    }

    /// Runs git (argv, no shell) with its output in `log`, bounded to two minutes.
    private static func run(_ arguments: [String], in directory: URL? = nil, log: URL) async throws -> (status: Int32, output: String) {
        guard let executable = ExecutableResolver.standard().resolve("git", in: directory ?? log.deletingLastPathComponent()) else {
            throw DaemonError("git is needed for --remote and was not found")
        }
        try FileManager.default.createDirectory(at: log.deletingLastPathComponent(), withIntermediateDirectories: true)
        var environment = ProcessInfo.processInfo.environment.filter { ["PATH", "HOME", "SSH_AUTH_SOCK", "GIT_SSH_COMMAND", "LANG"].contains($0.key) }
        environment["GIT_TERMINAL_PROMPT"] = "0"
        let spec = LaunchSpec(arguments: ["git"] + arguments, environment: environment,
                              workingDirectory: directory ?? log.deletingLastPathComponent(), logFile: log)
        let result = try await Commands.output(of: spec, executable: executable, timeout: .seconds(120))
        return (result.status ?? -1, result.text)
    }
}

/// In remote mode, wakes the reconcile loop every `interval` to fetch.
public struct RemotePoller: Service {
    let interval: Duration
    let triggers: Triggers

    public init(interval: Duration, triggers: Triggers) {
        self.interval = interval
        self.triggers = triggers
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown { [interval, triggers] in
            while true {
                try await Task.sleep(for: interval)
                triggers.fire("fetch")
            }
        }
    }
}
