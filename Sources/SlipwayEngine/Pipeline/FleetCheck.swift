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
        let program = manifest.run.command.first ?? ""
        let problems = await withTaskGroup(of: (String, String?).self) { group in
            for host in fleet.hosts {
                group.addTask { (host, await Self.problem(on: host, of: target, program: program)) }
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
    private static func problem(on host: String, of target: SSHTarget, program: String) async -> String? {
        let script = #"command -v -- "$1" >/dev/null 2>&1 || { echo "$1 is not installed here"; exit 3; }; command -v setsid >/dev/null 2>&1 || { echo "setsid is missing"; exit 3; }"#
        let check = program.contains("{") ? ["true"] : ["sh", "-c", script, "sh", program]
        do {
            let result = try await target.ssh.run(target.destination(host), check, timeout: .seconds(20))
            switch result.status {
            case 0?: return nil
            case nil: return "no answer within 20 s"
            case let status?:
                let said = result.text.split(whereSeparator: \.isNewline).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "exit \(status)"
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
        let file = engine.state.root.appendingPathComponent("ssh").appendingPathComponent("known_hosts")
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
        try data.write(to: file, options: .atomic)
        return true
    }

    /// `run.artifact` on every host of the run: taken from the deployed commit (never the
    /// working tree) or the state directory's `artifacts/`, checked against its sha256 here,
    /// copied where it is not yet, and checked again on each host.
    func place(_ artifact: Artifact, on target: SSHTarget) async throws -> String {
        let local = try await artifactFile(artifact)
        let copied = try await withThrowingTaskGroup(of: Bool.self) { group in
            for case let host? in target.hosts { group.addTask { try await target.remote(host).place(artifact: local, sha256: artifact.sha256) } }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        return "\(artifact.file) (sha256 \(artifact.sha256.prefix(12))…): copied to \(copied) host(s), already on \(target.hosts.count - copied)"
    }

    /// The artifact as a file here, its sha256 checked.
    private func artifactFile(_ artifact: Artifact) async throws -> URL {
        let folder = engine.state.root.appendingPathComponent("artifacts")
        let file: URL
        if let name = artifact.stateName {
            file = folder.appendingPathComponent(name)
        } else {
            let git = repository.git
            guard let blob = try await git.blobID(at: artifact.file, in: trigger.id) else {
                throw DeploymentFailure(reason: "run.artifact: \(artifact.file) is not in commit \(trigger.id.short)")
            }
            guard let data = try await git.readBlob(blob, maximumBytes: 512 << 20) else {
                throw DeploymentFailure(reason: "run.artifact: \(artifact.file) is over 512 MiB")
            }
            file = folder.appendingPathComponent(".from-repository").appendingPathComponent(artifact.sha256)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: file, options: .atomic)
        }
        let spec = LaunchSpec(arguments: ["sha256sum", "--", file.path], environment: ["PATH": "/usr/bin:/bin", "LANG": "C"],
                              workingDirectory: folder.deletingLastPathComponent(), logFile: engine.state.root.appendingPathComponent("sha256.out"))
        let result = try await Commands.output(of: spec, executable: URL(fileURLWithPath: "/usr/bin/sha256sum"), timeout: .seconds(120))
        guard result.status == 0, let sum = result.text.split(separator: " ").first else {
            throw DeploymentFailure(reason: "run.artifact: \(artifact.file) cannot be read here (\(result.text.split(whereSeparator: \.isNewline).last ?? ""))")
        }
        guard sum == artifact.sha256 else {
            throw DeploymentFailure(reason: "run.artifact: \(artifact.file) has sha256 \(sum), the manifest names \(artifact.sha256); nothing was copied")
        }
        return file
    }
}
