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
    /// What the last command's plan learnt (a command's: the daemon passes the desired state it keeps in memory).
    let cache: PlanCache?

    public init(repository: OpsRepository, state: StateDirectory, machine: MachineCheck? = nil, cache: PlanCache? = nil) {
        (self.repository, self.state, self.machine, self.cache) = (repository, state, machine, cache)
    }

    /// - Parameter only: environments to plan; all when empty. Unknown names are an error.
    /// - Parameter tip: the commit to plan at (default: the branch tip).
    /// - Parameter desired: the manifests at `tip`, and `inputs` what `inputs(at:desired:)`
    ///   says of them, when the caller has read them already (the file cache is then not used).
    public func plan(_ only: [EnvironmentName] = [], at tip: ObjectID? = nil, desired: DesiredState? = nil, inputs: PlanInputs? = nil) async throws -> Plan {
        let tip = if let tip { tip } else { try await repository.tip() }
        let untrusted = TrustLedger.untrusted(state)
        var inputs = if let inputs { inputs } else { try await self.inputs(at: tip, files: desired?.files ?? [:], untrusted: untrusted) }
        let cache = desired == nil ? self.cache : nil
        // Lengths before paths: a path may hold any character but NUL.
        let scope = "\(inputs.trust?.hex ?? "-") \(inputs.open)" + untrusted.sorted().map { " \($0.utf8.count):\($0)" }.joined()
        let cached = cache?.load(scope: scope) ?? PlanCache.Contents(outline: nil, entries: [:])
        let outline: PlanCache.Outline
        if let desired {
            outline = PlanCache.Outline(tree: inputs.manifestsTree, desired: desired)
        } else if let known = cached.outline, known.tree != nil, known.tree == inputs.manifestsTree {
            outline = known  // not one manifest read or parsed
        } else if let known = cached.outline, let from = known.tree, let tree = inputs.manifestsTree,
                  let updated = await known.updating(to: tree, changes: try await repository.git.treeChanges(from: from, to: tree), untrusted: untrusted,
                                                     parse: { await repository.parsed(blob: $1, path: $0) }) {
            outline = updated
        } else {
            outline = PlanCache.Outline(tree: inputs.manifestsTree, desired: try await repository.desired(at: tip, untrusted: untrusted))
        }
        if let desired = outline.desired { inputs.manifests = desired.files }  // the daemon's: a command's plan has no use for them
        let names = try select(only, in: outline)
        let statusBlobs = inputs.statuses
        let ledger = inputs.open ? nil : TrustLedger.load(state)
        let known = Set(state.knownEnvironments())  // no saved status or registry to read for the others
        // Environments a slice per task: each one's verdict from the file when its manifest and
        // status are the ones it was made with; otherwise its saved status, or its status file
        // (read from git only when it changed since the last plan: the repository's cache),
        // parsed, and judged. Then what runs here.
        let judged = await names.compactMap { name in outline.environment(name).map { (name, $0) } }.sliced { slice in
            var done: [(EnvironmentPlan, PlanCache.Entry?)] = []
            for (name, facts) in slice {
                let key = cache == nil ? PlanCache.StatusKey.none : PlanCache.statusKey(name, state: state, known: known, blob: statusBlobs[name])
                if let entry = cached.entries[name], entry.blob == facts.blob, entry.status == key {
                    done.append((settle(entry.verdict, replicas: facts.replicas, known: known), nil))
                    continue
                }
                do {  // one unreadable status file blocks its environment, not the plan
                    let read = if let parsed = outline.desired?.environments.manifests[name] { parsed }
                        else { await repository.manifest(blob: facts.blob, path: name.manifestPath) }
                    guard let manifest = read else { throw EngineError("\(name.manifestPath) could not be read again") }
                    let saved = known.contains(name) ? state.savedStatus(name) : nil
                    let status = if let saved { saved } else { try await statusBlobs[name].asyncMap { try await repository.status(of: name, blob: $0) } }
                    let (verdict, lasting) = await judge(name, manifest: manifest, blob: facts.blob, status: status, tip: tip, ledger: ledger)
                    // Kept under the status it was made with: not under a saved file that did not read.
                    let keyed = if case .saved = key { saved != nil } else { true }
                    done.append((settle(verdict, replicas: facts.replicas, known: known),
                                 lasting && keyed && cache != nil ? PlanCache.Entry(blob: facts.blob, status: key, verdict: verdict) : nil))
                } catch {
                    done.append((EnvironmentPlan(environment: name, action: .blocked, service: facts.service, desiredVersion: facts.version,
                                                 deployedVersion: nil, changes: [], reason: "\(ErrorText.sentence(error))"), nil))
                }
            }
            return done
        }
        let learnt = Dictionary(judged.compactMap { plan, entry in entry.map { (plan.environment, $0) } }, uniquingKeysWith: { first, _ in first })
        if let cache, cached.outline?.tree != outline.tree || !learnt.isEmpty {
            var entries = cached.entries.filter { outline.contains($0.key) }
            entries.merge(learnt) { _, new in new }
            cache.save(PlanCache.Contents(outline: outline, entries: entries), scope: scope)
        }
        let (removals, refusedRemovals) = await removals(only, in: outline, known: known, at: tip, ledger: ledger, open: inputs.open)
        let promoting = (removals + judged.map(\.0)).map { plan -> EnvironmentPlan in  // removals first: they may free an address a new environment takes
            guard plan.needsRun(), let upstream = outline.upstream(of: plan.environment),
                  let version = outline.environment(upstream)?.version, version != plan.desiredVersion else { return plan }
            var promoting = plan
            promoting.promotesInto = upstream
            return promoting
        }
        return Plan(commit: tip, environments: await hold(promoting, in: outline, untrusted: untrusted), invalid: outline.invalid + refusedRemovals, inputs: inputs)
    }

    /// The repository files a plan of `desired` at `tip` reads.
    public func inputs(at tip: ObjectID, desired: DesiredState) async throws -> PlanInputs {
        try await inputs(at: tip, files: desired.files, untrusted: TrustLedger.untrusted(state))
    }

    func inputs(at tip: ObjectID, files: [String: ObjectID], untrusted: Set<String>) async throws -> PlanInputs {
        var inputs = PlanInputs()
        // Deployed state as this machine saved it; the repository's status files only while it names no signers (DeployedState).
        inputs.open = try await TrustCheck.isOpen(repository: repository, state: state, at: tip)
        inputs.statuses = inputs.open ? try await repository.statusBlobs(at: tip) : [:]
        (inputs.manifests, inputs.untrusted) = (files, untrusted)
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
    func hold(_ plans: [EnvironmentPlan], in outline: PlanCache.Outline, untrusted: Set<String> = []) async -> [EnvironmentPlan] {
        guard let machine else { return plans }
        let counting = plans.filter { !untrusted.contains($0.environment.manifestPath) }
        // What this machine lacks for each environment of a lane with a run to make, asked in parallel
        // (a program looked up, an address tried: a few system calls each, thousands of environments).
        var asked: Set<EnvironmentName> = []
        for plan in counting where plan.needsRun() {
            var next: EnvironmentName? = plan.environment
            while let name = next, asked.insert(name).inserted { next = outline.upstream(of: name) }
        }
        let batch = asked.compactMap { name in outline.needs(name).map { (name: name, needs: $0) } }
        // Read once for many (a port nothing listens on is free); for a few, asking each port costs less.
        let listening = batch.count >= 256 ? PortHolder.listeningPorts() : nil
        let problems = Dictionary(await batch.sliced { machine.problems(of: Array($0), listening: listening) }, uniquingKeysWith: { first, _ in first })
        let checked = Dictionary(zip(counting.map(\.environment), holdEach(counting, in: outline, problems: problems)), uniquingKeysWith: { first, _ in first })
        let held = plans.map { checked[$0.environment] ?? $0 }
        var lanes: [EnvironmentName: String] = [:]  // an upstream → the held environment downstream of it
        for plan in held where plan.action == .held {
            var seen: Set<EnvironmentName> = [plan.environment], next = outline.upstream(of: plan.environment)
            while let upstream = next, seen.insert(upstream).inserted {
                lanes[upstream] = lanes[upstream] ?? plan.environment.rawValue
                next = outline.upstream(of: upstream)
            }
        }
        return held.map { plan in
            guard plan.needsRun(), let downstream = lanes[plan.environment] else { return plan }
            return plan.with(.held, reason: "\(downstream) in its lane is held on this machine; nothing in the lane changes until it is not")
        }
    }

    private func holdEach(_ plans: [EnvironmentPlan], in outline: PlanCache.Outline, problems known: [EnvironmentName: [String]]) -> [EnvironmentPlan] {
        plans.map { plan in
            guard plan.needsRun() else { return plan }
            var chain: [EnvironmentName] = [], next: EnvironmentName? = plan.environment
            while let name = next, !chain.contains(name), outline.contains(name) {
                chain.append(name)
                next = outline.upstream(of: name)
            }
            let problems = chain.flatMap { link in
                (known[link] ?? []).map { link == plan.environment ? $0 : "\(link): \($0)" }
            }
            guard !problems.isEmpty else { return plan }
            return plan.with(.held, reason: problems.joined(separator: "; ") + "; deployed once this machine has it, nothing is recorded meanwhile")
        }
    }

    /// Environments that run here but whose manifest file is gone at the tip: `remove` when the
    /// deletion counts under `Trust/` (or nothing is checked), otherwise a line saying why they
    /// keep running: refused, or not judged (yet: `slipway plan` before the next pass; or at
    /// all: `Trust/` is gone, and then nothing is removed).
    /// (`known`: the environments the state directory has a folder for.)
    func removals(_ only: [EnvironmentName], in outline: PlanCache.Outline, known: Set<EnvironmentName>, at tip: ObjectID, ledger: TrustLedger?,
                  open: Bool) async -> ([EnvironmentPlan], [String]) {
        var plans: [EnvironmentPlan] = [], refused: [String] = []
        for name in known.sorted() where (only.isEmpty || only.contains(name)) && !outline.hasFile(name.manifestPath) {
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

    func select(_ only: [EnvironmentName], in outline: PlanCache.Outline) throws -> [EnvironmentName] {
        let all = outline.ordered
        guard !only.isEmpty else { return all }
        for name in only where !outline.contains(name) && !outline.broken.contains(name) && state.savedStatus(name)?.version == nil {
            let known = all.map(\.rawValue) + outline.broken.map(\.rawValue)
            let hint = Spelling.hint(for: name.rawValue, among: known)
            throw EngineError("no environment \"\(name)\": there is no \(name.manifestPath)\(hint)")
        }
        let asked = Set(only)
        return all.filter(asked.contains)
    }

    /// `name`'s plan as its manifest and status make it (`live`: up to date unless instances are
    /// missing here), and whether it stays so while they do: not when it hinges on history (a
    /// failed manifest brought again) or on a file that could not be read.
    func judge(_ name: EnvironmentName, manifest: Manifest, blob: ObjectID, status: EnvironmentStatus?, tip: ObjectID,
               ledger: TrustLedger? = nil) async -> (PlanCache.Verdict, lasting: Bool) {
        func result(_ action: EnvironmentPlan.Action, _ changes: [FieldChange], _ reason: String? = nil, live: Bool = false, lasting: Bool = true) -> (PlanCache.Verdict, lasting: Bool) {
            (PlanCache.Verdict(plan: EnvironmentPlan(environment: name, action: action, service: manifest.service, desiredVersion: manifest.version,
                                                     deployedVersion: status?.version, changes: changes, reason: reason), live: live), lasting)
        }
        if let suspended = manifest.suspended {
            return result(.suspended, [], "suspended: \(suspended); slipway resume \(name) to go on")
        }
        let lasting = status?.failedManifest == nil
        if let failed = status?.failedManifest, await isSame(failed, as: blob, fields: manifest, name),
           await !broughtAgain(status, blob: blob, name, tip: tip, ledger: ledger) {
            return result(.waiting, [], "\(manifest.service) \(status?.failedVersion ?? manifest.version) failed in \(status?.failedDeployment?.rawValue ?? "?"); waiting for a change of \(name.manifestPath) or a new commit of it (to try it again as it is: slipway apply --retry-failed \(name))", lasting: false)
        }
        guard let status, status.version != nil, let deployedBlob = status.manifest else {
            return result(.create, Self.changes(from: [], to: manifest.fields), "not deployed yet", lasting: lasting)
        }
        if deployedBlob != blob {
            let deployed = await repository.manifest(blob: deployedBlob, path: name.manifestPath)
            let changes = Self.changes(from: deployed?.fields ?? [], to: manifest.fields)
            if !changes.isEmpty { return result(.update, changes, lasting: lasting && deployed != nil) }
        }
        if status.crashLoop == blob {
            return result(.waiting, [], "\(manifest.version) crash-looped between releases (\(status.lastDeployment)); not restarted until a new release (to try it again as it is: slipway apply --retry-failed \(name))", lasting: lasting)
        }
        return result(.none, [], live: true, lasting: lasting)
    }

    /// `planned` judged again from `status`, what is deployed now (see `Engine.deploy`); it
    /// keeps what the plan said of its upstream.
    func judgeAgain(_ planned: EnvironmentPlan, manifest: Manifest, blob: ObjectID, status: EnvironmentStatus?, tip: ObjectID, open: Bool) async -> EnvironmentPlan {
        let name = planned.environment
        let (verdict, _) = await judge(name, manifest: manifest, blob: blob, status: status, tip: tip, ledger: open ? nil : TrustLedger.load(state))
        var current = settle(verdict, replicas: manifest.run.replicas, known: [name])
        current.promotesInto = planned.promotesInto
        return current
    }

    /// A verdict with what runs here: up to date, or `repair` when instances of the version are
    /// missing (`known`: the environments the state directory has a folder for).
    func settle(_ verdict: PlanCache.Verdict, replicas: Int, known: Set<EnvironmentName>) -> EnvironmentPlan {
        let plan = verdict.plan
        guard verdict.live else { return plan }
        let registered = known.contains(plan.environment) ? state.registry(plan.environment).load() : []
        let instances = registered.filter { $0.version == plan.desiredVersion && $0.warmUntil == nil && $0.isRunning }
        // A fleet is asked for its hosts that run the version (a host left out as unreachable is not repaired here).
        let expected = replicas * max(1, Set(instances.map(\.host)).count)
        guard instances.count < expected else { return plan }
        return plan.with(.repair, reason: "\(instances.count) of \(expected) instances of \(plan.desiredVersion) are running")  // a live verdict has no changes
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

    /// Field-by-field differences, compared as kept and shown as written (`Manifest.shown`); a
    /// field missing on one side shows as `—`. An empty list or mapping counts as missing:
    /// `gates.checklist: []` is no change from no checklist.
    static func changes(from old: [(path: String, value: String)], to new: [(path: String, value: String)]) -> [FieldChange] {
        let empty: Set<String> = ["[]", "{}"]
        let before = Dictionary(old.filter { !empty.contains($0.value) }, uniquingKeysWith: { first, _ in first })
        let after = Dictionary(new.filter { !empty.contains($0.value) }, uniquingKeysWith: { first, _ in first })
        return Set(before.keys).union(after.keys).sorted().compactMap { path in
            let from = before[path], to = after[path]
            guard from != to else { return nil }
            return FieldChange(field: path, from: from.map { Manifest.shown(path, $0) } ?? "—", to: to.map { Manifest.shown(path, $0) } ?? "—")
        }
    }
}

extension EnvironmentPlan {
    /// This plan with another action and reason (a hold, a repair), what the plan said otherwise kept.
    func with(_ action: Action, reason: String) -> EnvironmentPlan {
        EnvironmentPlan(environment: environment, action: action, service: service, desiredVersion: desiredVersion,
                        deployedVersion: deployedVersion, changes: changes, reason: reason)
    }
}

extension Array where Element: Sendable {
    /// `transform` of consecutive slices, in order, each slice on its own task: thousands of
    /// environments on a few tasks per core rather than a task each (task switches and
    /// allocations cost more than the work).
    func sliced<T: Sendable>(_ transform: @escaping @Sendable (ArraySlice<Element>) async throws -> [T]) async rethrows -> [T] {
        let size = Swift.max(1, (count + 4 * ProcessInfo.processInfo.activeProcessorCount - 1) / (4 * ProcessInfo.processInfo.activeProcessorCount))
        let slices = stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
        guard slices.count > 1 else { return try await transform(self[...]) }
        return try await withThrowingTaskGroup(of: (Int, [T]).self) { group in
            for (index, slice) in slices.enumerated() { group.addTask { (index, try await transform(slice)) } }
            var results = [[T]](repeating: [], count: slices.count)
            for try await (index, result) in group { results[index] = result }
            return results.flatMap { $0 }
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
