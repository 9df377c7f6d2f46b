import Foundation
import SlipwayManifest
import SlipwayHost
import SlipwayCore

extension PipelineRun {
    /// Pre-flight on a fleet: host keys pinned in the ops repo are put in place, then every
    /// host is asked, at once, whether it answers and has the program. The run goes on with
    /// the hosts that do when there are at least `minHealthyHosts` of them; the others are named.
    func checkHosts(_ target: SSHTarget, fleet: SSHFleet) async throws -> (target: SSHTarget, detail: String) {
        let pinned = try await pinKnownHosts()
        let target = SSHTarget(local: target.local, fleet: fleet, hosts: fleet.hosts, ssh: engine.state.ssh(environment: engine.environment))
        let program = manifest.run.command.first ?? "", hasArtifact = manifest.run.artifact != nil
        let problems = await withTaskGroup(of: (String, String?).self) { group in
            for host in fleet.hosts {
                group.addTask { (host, await Self.problem(on: host, of: target, program: program, artifact: hasArtifact)) }
            }
            return await group.reduce(into: [String: String?]()) { $0[$1.0] = $1.1 }
        }
        let all = fleet.hosts
        let healthy = all.filter { (problems[$0] ?? nil) == nil }
        let named = all.compactMap { host in (problems[host] ?? nil).map { "\(host): \($0)" } }.joined(separator: "; ")
        let needed = fleet.minHealthyHosts.of(all.count)
        guard healthy.count >= needed else {
            throw DeploymentFailure(reason: "\(healthy.count) of \(all.count) host(s) can take \(manifest.version), minHealthyHosts \(fleet.minHealthyHosts) needs \(needed); nothing was started: \(named)")
        }
        let keys = pinned ? "host keys pinned by Trust/known_hosts" : "host keys from the user's known_hosts"
        let detail = healthy.count == all.count ? "\(all.count) host(s) answer, \(program) on each; \(keys)"
            : "\(healthy.count) of \(all.count) host(s) answer (minHealthyHosts \(fleet.minHealthyHosts)); left out: \(named); \(keys)"
        return (target.leaving(out: problems.compactMapValues { $0 }), detail)
    }

    /// Why `host` cannot take instances now; nil when it can.
    private static func problem(on host: String, of target: SSHTarget, program: String, artifact: Bool) async -> String? {
        // $1: the program ("" when a placeholder names it); $2: non-empty when an artifact is to be checked.
        let script = #"""
            for tool in setsid ${2:+sha256sum}; do command -v "$tool" >/dev/null 2>&1 || { echo "$tool is missing"; exit 3; }; done
            [ -z "$1" ] || command -v -- "$1" >/dev/null 2>&1 || { echo "$1 is not installed here"; exit 3; }
            """#
        let check = ["sh", "-c", script, "sh", program.contains("{") ? "" : program, artifact ? "artifact" : ""]
        do {
            let result = try await target.ssh.run(target.destination(host), check, timeout: .seconds(20))
            switch result.status {
            case 0?: return nil
            case nil: return "no answer within 20 s"
            case let status?:
                let said = result.text.split(whereSeparator: \.isNewline).last.map { String($0.prefix(300)).trimmingCharacters(in: .whitespaces) } ?? "exit \(status)"
                return status == 255 ? "unreachable (\(said))" : said
            }
        } catch {
            return ErrorText.sentence(error)
        }
    }

    /// Copies `known_hosts` of the `Trust/` version this machine accepted into the ssh folder
    /// (or removes a copy it no longer has): pinned keys only ever come from signed content.
    /// Returns whether keys are pinned.
    private func pinKnownHosts() async throws -> Bool {
        let file = engine.state.pinnedHostKeys
        // The same version of Trust/ that judges signatures here (see `TrustCheck.verify`).
        guard let keys = TrustLedger.load(engine.state)?.keys ?? TrustCheck.pins(engine.state).last else {
            // Fail closed: under Trust/, keys this machine has not judged are no reason to trust the user's.
            guard signature == .open else { throw DeploymentFailure(reason: "host keys: this machine has not judged Trust/ yet") }
            try? FileManager.default.removeItem(at: file)
            return false
        }
        guard let data = try await trust.file("known_hosts", in: keys) else {
            try? FileManager.default.removeItem(at: file)
            return false
        }
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        if (try? Data(contentsOf: file)) != data {
            try data.write(to: file, options: .atomic)
            // Connections opened under the keys before are not reused: their masters would not ask again.
            for name in (try? FileManager.default.contentsOfDirectory(atPath: file.deletingLastPathComponent().path)) ?? [] where name.count == 40 {
                try? FileManager.default.removeItem(at: file.deletingLastPathComponent().appendingPathComponent(name))
            }
        }
        return true
    }

    /// The artifacts a run places: the new manifest's, and the running one's (the way back
    /// must be able to start it on every host, one added since included), each with the commit
    /// to read it from.
    func artifacts() async -> [(artifact: Artifact, commit: ObjectID)] {
        var found = manifest.run.artifact.map { [($0, trigger.id)] } ?? []
        if let blob = status?.manifest, let commit = status?.commit,
           let running = await repository.manifest(blob: blob, path: environment.manifestPath)?.run.artifact,
           running != manifest.run.artifact {
            found.append((running, commit))
        }
        return found
    }

    /// Each of `artifacts()` on every host of the run: taken from its commit (never the working
    /// tree) or the state directory's `artifacts/`, checked against its sha256 here, copied
    /// where it is not yet, and checked again on each host.
    func placeArtifacts(on target: SSHTarget) async throws -> String {
        var placed: [String] = []
        for (artifact, commit) in await artifacts() {
            let local = try await artifactFile(artifact, at: commit)
            defer { if local.isTemporary { try? FileManager.default.removeItem(at: local.file) } }
            let copied = try await withThrowingTaskGroup(of: Bool.self) { group in
                for case let host? in target.hosts { group.addTask { try await target.remote(host).place(artifact: local.file, sha256: artifact.sha256) } }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            placed.append("\(artifact.file) (sha256 \(artifact.sha256.prefix(12))…): copied to \(copied) host(s), already on \(target.hosts.count - copied)")
        }
        return placed.joined(separator: "; ")
    }

    /// The artifact as a file here, its sha256 checked: a file of its own for this run when it
    /// comes from the repository (no other run's can take its place between check and copy).
    private func artifactFile(_ artifact: Artifact, at commit: ObjectID) async throws -> (file: URL, isTemporary: Bool) {
        let folder = engine.state.root.appendingPathComponent("artifacts"), limit = 512 << 20
        let local: (file: URL, isTemporary: Bool)
        if let name = artifact.stateName {
            local = (folder.appendingPathComponent(name), false)
            let size = (try? FileManager.default.attributesOfItem(atPath: local.file.path)[.size] as? Int) ?? 0
            guard size <= limit else { throw DeploymentFailure(reason: "run.artifact: \(artifact.file) is over 512 MiB") }
        } else {
            let git = repository.git
            guard let blob = try await git.blobID(at: artifact.file, in: commit) else {
                throw DeploymentFailure(reason: "run.artifact: \(artifact.file) is not in commit \(commit.short)")
            }
            guard let data = try await git.readBlob(blob, maximumBytes: limit) else {
                throw DeploymentFailure(reason: "run.artifact: \(artifact.file) is over 512 MiB")
            }
            local = (folder.appendingPathComponent(".from-repository-\(UUID().uuidString)"), true)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try data.write(to: local.file)
        }
        do {
            let sum = try await sha256(of: local.file)
            guard sum == artifact.sha256 else {
                throw DeploymentFailure(reason: "run.artifact: \(artifact.file) has sha256 \(sum), the manifest names \(artifact.sha256); nothing was copied")
            }
            return local
        } catch {
            if local.isTemporary { try? FileManager.default.removeItem(at: local.file) }
            throw error
        }
    }

    private func sha256(of file: URL) async throws -> String {
        let output = engine.state.root.appendingPathComponent("sha256-\(UUID().uuidString.prefix(8)).out")
        defer { try? FileManager.default.removeItem(at: output) }
        let spec = LaunchSpec(arguments: ["sha256sum", "--", file.path], environment: ["PATH": "/usr/bin:/bin", "LANG": "C"],
                              workingDirectory: engine.state.root, logFile: output)
        let result = try await Commands.output(of: spec, executable: URL(fileURLWithPath: "/usr/bin/sha256sum"), timeout: .seconds(120))
        guard result.status == 0, let sum = result.text.split(separator: " ").first else {
            throw DeploymentFailure(reason: "run.artifact: \(file.lastPathComponent) cannot be read here (\(result.text.split(whereSeparator: \.isNewline).last ?? ""))")
        }
        return String(sum)
    }
}
