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
        return (target.narrowed(to: healthy), detail)
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
        guard let keys = TrustLedger.load(engine.state)?.keys, let data = try await trust.file("known_hosts", in: keys) else {
            try? FileManager.default.removeItem(at: file)
            return false
        }
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: file, options: .atomic)
        return true
    }
}
