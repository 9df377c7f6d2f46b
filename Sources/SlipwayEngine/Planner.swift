public import SlipwayManifest
public import SlipwayRecords
import Foundation
import SlipwayHost
public import SlipwayGit
public import SlipwayCore

/// What a reconcile would do for one environment.
public struct EnvironmentPlan: Sendable, Codable {
    public enum Action: String, Sendable, Codable {
        /// Never deployed: start it.
        case create
        /// Desired differs from deployed.
        case update
        /// Desired equals deployed but instances are missing on this machine.
        case repair
        /// Nothing to do.
        case none
        /// Desired is the manifest that failed last time: not retried until it changes.
        case waiting
        /// Slipway cannot tell what is deployed (its status file is unreadable): nothing is
        /// done until a person restores it; the other environments go on.
        case blocked
        /// This machine lacks what the environment or its lane needs (a secret, a program):
        /// nothing in the lane changes and nothing is recorded until it is fixed.
        case held
        /// `slipway suspend`: left as it is until `slipway resume`.
        case suspended
        /// Its manifest was deleted: what runs here is stopped, recorded `removed`.
        case remove
    }

    public let environment: EnvironmentName
    public let action: Action
    public let service: String
    public let desiredVersion: String
    public let deployedVersion: String?
    /// Fields that differ, secrets shown as their reference (`env:NAME`), never a value.
    public let changes: [FieldChange]
    public let reason: String?
    /// The upstream this run promotes its version into first (its staging phase), when that
    /// upstream's manifest names another version: `plan` says what `apply` will change there too.
    public var promotesInto: EnvironmentName? = nil

    /// Whether a reconcile pass deploys it: something differs, or (with `retryFailed`) the
    /// manifest that failed is to be tried again.
    public func needsRun(retryFailed: Bool = false) -> Bool {
        [.create, .update, .repair, .remove].contains(action) || (retryFailed && action == .waiting)
    }
}

/// The plan for every environment asked about, plus the manifests that are invalid.
public struct Plan: Sendable, Codable {
    public let commit: ObjectID
    public let environments: [EnvironmentPlan]
    public let invalid: [String]
    /// What the plan read from the repository (the daemon plans again only what changed).
    public var inputs = PlanInputs()

    enum CodingKeys: String, CodingKey { case commit, environments, invalid }

    public init(commit: ObjectID, environments: [EnvironmentPlan], invalid: [String], inputs: PlanInputs = PlanInputs()) {
        (self.commit, self.environments, self.invalid, self.inputs) = (commit, environments, invalid, inputs)
    }
}

/// The repository files a plan reads, by environment: an environment whose files are the same
/// in two plans plans alike (save for what runs on this machine, which the daemon watches apart).
public struct PlanInputs: Sendable, Equatable {
    /// Blob of every manifest file by path, invalid ones included, and the tree that holds them.
    public var manifests: [String: ObjectID] = [:]
    public var manifestsTree: ObjectID? = nil
    /// Blob of every `Status/<env>.md` (empty under `Trust/`: this machine's saved status counts).
    public var statuses: [EnvironmentName: ObjectID] = [:]
    /// Manifest paths whose content does not count under `Trust/`, `Trust/`'s own tree, and
    /// whether nothing is checked (see `TrustCheck.isOpen`).
    public var untrusted: Set<String> = []
    public var trust: ObjectID? = nil
    public var open = true

    public init() {}

    /// The environments whose manifest or status file differs from `old`; nil when `Trust/`
    /// or its verdicts changed, which may change any environment.
    public func changed(since old: PlanInputs) -> Set<EnvironmentName>? {
        guard trust == old.trust, untrusted == old.untrusted, open == old.open else { return nil }
        var names: Set<EnvironmentName> = []
        if manifestsTree == nil || manifestsTree != old.manifestsTree {  // a record commit leaves the folder as it was
            for (path, blob) in manifests where old.manifests[path] != blob { EnvironmentName(manifestPath: path).map { _ = names.insert($0) } }
            for path in old.manifests.keys where manifests[path] == nil { EnvironmentName(manifestPath: path).map { _ = names.insert($0) } }
        }
        for (name, blob) in statuses where old.statuses[name] != blob { names.insert(name) }
        for name in old.statuses.keys where statuses[name] == nil { names.insert(name) }
        return names
    }
}

/// Compares desired state (manifests at the tip) with deployed state (this machine's saved status, see DeployedState; status files at the
/// same tip, and the instances this machine runs).
public struct Planner: Sendable {
    let repository: OpsRepository
    let state: StateDirectory
    /// When set, environments this machine cannot run are held (see `MachineCheck`).
    let machine: MachineCheck?

    public init(repository: OpsRepository, state: StateDirectory, machine: MachineCheck? = nil) {
        self.repository = repository
        self.state = state
        self.machine = machine
    }

    /// - Parameter only: environments to plan; all when empty. Unknown names are an error.
    /// - Parameter tip: the commit to plan at (default: the branch tip).
    /// - Parameter desired: the manifests at `tip`, and `inputs` what `inputs(at:desired:)`
    ///   says of them, when the caller has read them already.
    public func plan(_ only: [EnvironmentName] = [], at tip: ObjectID? = nil, desired: DesiredState? = nil, inputs: PlanInputs? = nil) async throws -> Plan {
        let tip = if let tip { tip } else { try await repository.tip() }
        let untrusted = TrustLedger.untrusted(state)
        let desired = if let desired { desired } else { try await repository.desired(at: tip, untrusted: untrusted) }
        let names = try select(only, in: desired)
        let inputs = if let inputs { inputs } else { try await self.inputs(at: tip, desired: desired) }
        let statusBlobs = inputs.statuses
        let open = inputs.open
        let ledger = open ? nil : TrustLedger.load(state)
        let work = names.compactMap { name in
            desired.environments.manifests[name].flatMap { manifest in desired.blobs[name].map { (name: name, manifest: manifest, blob: $0) } }
        }
        // Each environment on its own task: its saved status, or its status file (read from git
        // only when it changed since the last plan: the repository's cache), parsed, and its plan.
        let plans = try await withThrowingTaskGroup(of: (Int, EnvironmentPlan).self) { group in
            for (index, item) in work.enumerated() {
                group.addTask {
                    do {  // one unreadable status file blocks its environment, not the plan
                        let status = if let saved = state.savedStatus(item.name) { saved }
                            else { try await statusBlobs[item.name].asyncMap { try await repository.status(of: item.name, blob: $0) } }
                        return (index, await plan(item.name, manifest: item.manifest, blob: item.blob, status: status, tip: tip, ledger: ledger))
                    } catch {
                        return (index, EnvironmentPlan(environment: item.name, action: .blocked, service: item.manifest.service,
                                                       desiredVersion: item.manifest.version, deployedVersion: nil, changes: [], reason: "\(ErrorText.sentence(error))"))
                    }
                }
            }
            var plans = [EnvironmentPlan?](repeating: nil, count: work.count)
            for try await (index, plan) in group { plans[index] = plan }
            return plans.compactMap { $0 }
        }
        let (removals, refusedRemovals) = await removals(only, in: desired, at: tip, ledger: open ? nil : TrustLedger.load(state), open: open)
        let invalid = desired.environments.diagnostics.map(\.description) + refusedRemovals
        let promoting = (removals + plans).map { plan -> EnvironmentPlan in  // removals first: they may free an address a new environment takes
            guard plan.needsRun(), let upstream = desired.environments.manifests[plan.environment]?.upstream,
                  let version = desired.environments.manifests[upstream]?.version, version != plan.desiredVersion else { return plan }
            var promoting = plan
            promoting.promotesInto = upstream
            return promoting
        }
        return Plan(commit: tip, environments: await hold(promoting, in: desired.environments, untrusted: untrusted), invalid: invalid, inputs: inputs)
    }

    /// The repository files a plan of `desired` at `tip` reads.
    public func inputs(at tip: ObjectID, desired: DesiredState) async throws -> PlanInputs {
        var inputs = PlanInputs()
        // Deployed state as this machine saved it; the repository's status files only while it names no signers (DeployedState).
        inputs.open = try await TrustCheck.isOpen(repository: repository, state: state, at: tip)
        inputs.statuses = inputs.open ? try await repository.statusBlobs(at: tip) : [:]
        (inputs.manifests, inputs.untrusted) = (desired.files, TrustLedger.untrusted(state))
        inputs.manifestsTree = try await repository.git.treeID(at: OpsRepository.environmentsDirectory, in: tip)
        inputs.trust = try await repository.git.entryID(at: TrustCheck.folder, in: tip)
        return inputs
    }

    /// Of `names`, those `plan(_:)` knows: a manifest at the tip (valid or not), or a version
    /// running here (a deleted manifest's environment, to be removed).
    public func plannable(_ names: Set<EnvironmentName>, in desired: DesiredState) -> [EnvironmentName] {
        names.filter { name in desired.files[name.manifestPath] != nil || state.savedStatus(name)?.version != nil }.sorted()
    }

    /// Holds every run whose environment, or an upstream it deploys into, this machine cannot
    /// run, and the runs of that lane's upstream environments too: nothing in a held lane changes.
    /// A manifest that does not count under `Trust/` (`untrusted` paths) holds nothing: its run
    /// is refused with a record, and it never stops a signed release of its upstream.
    func hold(_ plans: [EnvironmentPlan], in environments: EnvironmentSet, untrusted: Set<String> = []) async -> [EnvironmentPlan] {
        guard let machine else { return plans }
        let counting = plans.filter { !untrusted.contains($0.environment.manifestPath) }
        // What this machine lacks for each environment of a lane with a run to make, asked in parallel
        // (a program looked up, an address tried: a few system calls each, thousands of environments).
        var asked: Set<EnvironmentName> = []
        for plan in counting where plan.needsRun() {
            var next: EnvironmentName? = plan.environment
            while let name = next, asked.insert(name).inserted { next = environments.upstreams[name] }
        }
        let problems = await withTaskGroup(of: (EnvironmentName, [String]).self) { group in
            for name in asked {
                guard let manifest = environments.manifests[name] else { continue }
                group.addTask { (name, machine.problems(manifest, in: name)) }
            }
            return await group.reduce(into: [EnvironmentName: [String]]()) { $0[$1.0] = $1.1 }
        }
        let checked = Dictionary(zip(counting.map(\.environment), holdEach(counting, in: environments, problems: problems)), uniquingKeysWith: { first, _ in first })
        let held = plans.map { checked[$0.environment] ?? $0 }
        var lanes: [EnvironmentName: String] = [:]  // an upstream → the held environment downstream of it
        for plan in held where plan.action == .held {
            var seen: Set<EnvironmentName> = [plan.environment], next = environments.manifests[plan.environment]?.upstream
            while let upstream = next, seen.insert(upstream).inserted {
                lanes[upstream] = lanes[upstream] ?? plan.environment.rawValue
                next = environments.manifests[upstream]?.upstream
            }
        }
        return held.map { plan in
            guard plan.needsRun(), let downstream = lanes[plan.environment] else { return plan }
            return EnvironmentPlan(environment: plan.environment, action: .held, service: plan.service, desiredVersion: plan.desiredVersion,
                                   deployedVersion: plan.deployedVersion, changes: plan.changes,
                                   reason: "\(downstream) in its lane is held on this machine; nothing in the lane changes until it is not")
        }
    }

    private func holdEach(_ plans: [EnvironmentPlan], in environments: EnvironmentSet, problems known: [EnvironmentName: [String]]) -> [EnvironmentPlan] {
        plans.map { plan in
            guard plan.needsRun() else { return plan }
            var chain: [EnvironmentName] = [], next: EnvironmentName? = plan.environment
            while let name = next, !chain.contains(name), environments.manifests.index(forKey: name) != nil {
                chain.append(name)
                next = environments.upstreams[name]
            }
            let problems = chain.flatMap { link in
                (known[link] ?? []).map { link == plan.environment ? $0 : "\(link): \($0)" }
            }
            guard !problems.isEmpty else { return plan }
            return EnvironmentPlan(environment: plan.environment, action: .held, service: plan.service, desiredVersion: plan.desiredVersion,
                                   deployedVersion: plan.deployedVersion, changes: plan.changes,
                                   reason: problems.joined(separator: "; ") + "; deployed once this machine has it, nothing is recorded meanwhile")
        }
    }

    /// Environments that run here but whose manifest file is gone at the tip: `remove` when the
    /// deletion counts under `Trust/` (or nothing is checked), otherwise a line saying why they
    /// keep running: refused, or not judged (yet: `slipway plan` before the next pass; or at
    /// all: `Trust/` is gone, and then nothing is removed).
    func removals(_ only: [EnvironmentName], in desired: DesiredState, at tip: ObjectID, ledger: TrustLedger?, open: Bool) async -> ([EnvironmentPlan], [String]) {
        var plans: [EnvironmentPlan] = [], refused: [String] = []
        for name in state.knownEnvironments() where (only.isEmpty || only.contains(name)) && desired.files[name.manifestPath] == nil {
            guard let status = state.savedStatus(name), let version = status.version else { continue }
            let path = name.manifestPath
            // A verdict counts for the deletion it judged; another one (the file put back, deleted again) is judged anew.
            if !open {
                let deletion = try? await repository.git.introducingCommit(of: path, blob: nil, from: tip)
                if let entry = ledger?.refused[path], entry.blob == nil, entry.commit == deletion {
                    refused.append("\(path): deleted, but the deletion does not count under Trust/ (\(entry.why)); \(name) keeps running \(version) (restore the file, then delete it in a signed commit)")
                    continue
                }
                guard let entry = ledger?.accepted[path], entry.blob == nil, entry.commit == deletion else {
                    refused.append("\(path): deleted, but the deletion was not judged under Trust/ (judged by the next apply; never while Trust/ is gone); \(name) keeps running \(version)")
                    continue
                }
            }
            plans.append(EnvironmentPlan(environment: name, action: .remove, service: status.service, desiredVersion: version,
                                         deployedVersion: version, changes: [], reason: "\(path) was deleted: its instances and HAProxy stop"))
        }
        return (plans, refused)
    }

    func select(_ only: [EnvironmentName], in desired: DesiredState) throws -> [EnvironmentName] {
        let all = desired.environments.ordered
        guard !only.isEmpty else { return all }
        let broken = Set(desired.environments.diagnostics.compactMap { EnvironmentName(manifestPath: $0.path) })
        let present = Set(all)
        for name in only where !present.contains(name) && !broken.contains(name) && state.savedStatus(name)?.version == nil {
            let known = all.map(\.rawValue) + broken.map(\.rawValue)
            let hint = Spelling.hint(for: name.rawValue, among: known)
            throw EngineError("no environment \"\(name)\": there is no \(name.manifestPath)\(hint)")
        }
        let asked = Set(only)
        return all.filter(asked.contains)
    }

    func plan(_ name: EnvironmentName, manifest: Manifest, blob: ObjectID, status: EnvironmentStatus?, tip: ObjectID,
              ledger: TrustLedger? = nil) async -> EnvironmentPlan {
        func result(_ action: EnvironmentPlan.Action, _ changes: [FieldChange], _ reason: String? = nil) -> EnvironmentPlan {
            EnvironmentPlan(environment: name, action: action, service: manifest.service, desiredVersion: manifest.version,
                            deployedVersion: status?.version, changes: changes, reason: reason)
        }
        if let suspended = manifest.suspended {
            return result(.suspended, [], "suspended: \(suspended); slipway resume \(name) to go on")
        }
        if let failed = status?.failedManifest, await isSame(failed, as: blob, fields: manifest, name),
           await !broughtAgain(status, blob: blob, name, tip: tip, ledger: ledger) {
            return result(.waiting, [], "\(manifest.service) \(status?.failedVersion ?? manifest.version) failed in \(status?.failedDeployment?.rawValue ?? "?"); waiting for a change of \(name.manifestPath) or a new commit of it (to try it again as it is: slipway apply --retry-failed \(name))")
        }
        guard let status, status.version != nil, let deployedBlob = status.manifest else {
            return result(.create, Self.changes(from: [], to: manifest.fields), "not deployed yet")
        }
        let changes: [FieldChange]
        if deployedBlob == blob {
            changes = []
        } else {
            let deployed = await repository.manifest(blob: deployedBlob, path: name.manifestPath)?.fields ?? []
            changes = Self.changes(from: deployed, to: manifest.fields)
        }
        if !changes.isEmpty { return result(.update, changes) }
        if status.crashLoop == blob {
            return result(.waiting, [], "\(manifest.version) crash-looped between releases (\(status.lastDeployment)); not restarted until a new release (to try it again as it is: slipway apply --retry-failed \(name))")
        }
        let instances = state.registry(name).load().filter { $0.version == manifest.version && $0.warmUntil == nil && $0.isRunning }
        // A fleet is asked for its hosts that run the version (a host left out as unreachable is not repaired here).
        let expected = manifest.run.replicas * max(1, Set(instances.map(\.host)).count)
        if instances.count < expected {
            return result(.repair, [], "\(instances.count) of \(expected) instances of \(manifest.version) are running")
        }
        return result(.none, [])
    }

    /// Whether a commit newer than the failed run's brought the failed manifest (exactly) again:
    /// under `Trust/`, only one that made it count again (a signed revert; `ledger` is what this
    /// machine accepted), never one that merely reshuffles history.
    private func broughtAgain(_ status: EnvironmentStatus?, blob: ObjectID, _ name: EnvironmentName, tip: ObjectID, ledger: TrustLedger?) async -> Bool {
        guard let failed = status?.failedCommit, status?.failedManifest == blob else { return false }
        if let ledger {
            guard let entry = ledger.accepted[name.manifestPath], entry.blob == blob, let commit = entry.commit else { return false }
            return commit != failed
        }
        guard let introduced = try? await repository.git.introducingCommit(of: name.manifestPath, blob: blob, from: tip),
              let older = try? await repository.git.isAncestor(introduced, of: failed) else { return false }
        return !older
    }

    /// Whether the failed manifest is the desired one (same blob, or same fields: a comment
    /// change is not a new desired state).
    private func isSame(_ failedBlob: ObjectID, as blob: ObjectID, fields manifest: Manifest, _ name: EnvironmentName) async -> Bool {
        if failedBlob == blob { return true }
        guard let failed = await repository.manifest(blob: failedBlob, path: name.manifestPath) else { return false }
        return failed == manifest
    }

    /// Field-by-field differences; a field missing on one side shows as `—`. An empty list or
    /// mapping counts as missing: `gates.checklist: []` is no change from no checklist.
    static func changes(from old: [(path: String, value: String)], to new: [(path: String, value: String)]) -> [FieldChange] {
        let empty: Set<String> = ["[]", "{}"]
        let before = Dictionary(old.filter { !empty.contains($0.value) }, uniquingKeysWith: { first, _ in first })
        let after = Dictionary(new.filter { !empty.contains($0.value) }, uniquingKeysWith: { first, _ in first })
        return Set(before.keys).union(after.keys).sorted().compactMap { path in
            let from = before[path] ?? "—", to = after[path] ?? "—"
            return from == to ? nil : FieldChange(field: path, from: from, to: to)
        }
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

extension Sequence {
    func asyncFirst(where predicate: (Element) async throws -> Bool) async rethrows -> Element? {
        for element in self where try await predicate(element) { return element }
        return nil
    }

    func asyncContains(where predicate: (Element) async throws -> Bool) async rethrows -> Bool {
        for element in self where try await predicate(element) { return true }
        return false
    }
}
