import Foundation
public import SlipwayCore
import SlipwayHost
import SlipwayRecords

/// One environment as the status page and `GET /api/environments` show it: what runs, what is
/// desired, the last result. Read from Slipway's own state and the branch; nothing secret.
public struct EnvironmentView: Sendable, Encodable {
    public struct Instance: Sendable, Encodable {
        public let id: String
        public let version: String
        /// `serving`, `warm` (a blue-green set kept at 0%) or `stopped`.
        public let state: String
        public let host: String?
        public let port: Int
    }

    public let environment: String
    public let service: String?
    public let version: String?
    public let desiredVersion: String?
    public let since: String?
    public let lastResult: String?
    public let lastDeployment: String?
    /// `desired X failed: why`, while that manifest is the desired one.
    public let failed: String?
    public let suspended: String?
    /// What an approver confirms before the desired version goes on (`gates.checklist`).
    public let checklist: [String]
    public let instances: [Instance]

    /// How a run's step starts while it waits for `slipway approve`.
    public static let waitingForApproval = "waiting for: slipway approve"
}

extension Engine {
    /// Every environment with a manifest at the tip or something running here.
    public func overview() async throws -> [EnvironmentView] {
        let state = configuration.state
        let tip = try await repository.tip()
        // Under Trust/, what a manifest nobody signed says is not shown as desired (nor its checklist).
        let desired = try await repository.desired(at: tip, untrusted: TrustLedger.untrusted(state))
        let orphans = state.knownEnvironments().filter { desired.environments.manifests[$0] == nil && state.savedStatus($0)?.version != nil }
        var views: [EnvironmentView] = []
        for name in desired.environments.ordered + orphans {
            let status = try? await repository.deployedStatus(of: name, at: tip, state: state)
            let manifest = desired.environments.manifests[name]
            let instances = state.registry(name).load().map { instance in
                EnvironmentView.Instance(id: instance.id, version: instance.version,
                                         state: !instance.isRunning ? "stopped" : instance.warmUntil == nil ? "serving" : "warm",
                                         host: instance.host, port: instance.port)
            }
            let failed = status.flatMap { status in
                status.failedVersion.flatMap { version in
                    status.failedManifest == desired.blobs[name] ? "desired \(version) failed: \(status.failedReason ?? "?")" : nil
                }
            }
            views.append(EnvironmentView(
                environment: name.rawValue, service: status?.service ?? manifest?.service, version: status?.version,
                desiredVersion: manifest?.version, since: status?.since, lastResult: status.map { $0.lastResult.rawValue },
                lastDeployment: status.map { $0.lastDeployment.rawValue }, failed: failed, suspended: manifest?.suspended,
                checklist: manifest?.gates.checklist ?? [], instances: instances))
        }
        return views
    }

    /// The last records Slipway committed for `name`, newest first: the blobs it wrote itself
    /// (what it remembers in `committed.json`), never whatever a path holds on the branch now.
    public func latestRecords(of name: EnvironmentName, count: Int) async -> [(path: String, text: String)] {
        let files = configuration.state.committedFiles(name)?.records.suffix(count).reversed() ?? []
        var records: [(String, String)] = []
        for file in files {
            guard let data = try? await repository.git.readBlob(file.blob, maximumBytes: 1 << 20) else { continue }
            records.append((file.path, String(decoding: data, as: UTF8.self)))
        }
        return records
    }
}
