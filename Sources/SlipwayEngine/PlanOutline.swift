import SlipwayCore
import SlipwayGit
import SlipwayManifest

extension PlanCache {
    /// The facts a plan reads of the desired state besides each environment's verdict: from
    /// the desired state just read, or from the file.
    struct Outline: Sendable {
        struct Environment: Sendable, Equatable {
            var blob: ObjectID
            var service: String
            var version: String
            var upstream: EnvironmentName?
            var replicas: Int
        }
        /// The `Environments/` tree these facts are of.
        var tree: ObjectID?
        /// Valid environments, upstreams first.
        var ordered: [EnvironmentName]
        /// Blob of every manifest file that is not a valid environment's, by path (made when
        /// asked, from a desired state: the daemon plans on every commit and never asks).
        var others: [String: ObjectID] {
            guard let desired else { return read.others }
            return desired.files.filter { path, blob in EnvironmentName(manifestPath: path).map { desired.blobs[$0] != blob } ?? true }
        }
        /// Each problem of a manifest, `path:line:col: message`, and the environments they name.
        var invalid: [String]
        var broken: Set<EnvironmentName>
        /// Read from the file; or, for a desired state just read, made when asked (the daemon
        /// plans a few environments of thousands).
        private let read: (environments: [EnvironmentName: (facts: Environment, needs: MachineNeeds)], others: [String: ObjectID])
        let desired: DesiredState?

        init(tree: ObjectID?, desired: DesiredState) {
            let diagnostics = desired.environments.diagnostics
            (self.tree, self.ordered, self.read, self.desired) = (tree, desired.environments.ordered, ([:], [:]), desired)
            invalid = diagnostics.map(\.description)
            broken = Set(diagnostics.compactMap { EnvironmentName(manifestPath: $0.path) })
        }

        init(tree: ObjectID?, environments: [EnvironmentName: (facts: Environment, needs: MachineNeeds)], ordered: [EnvironmentName], others: [String: ObjectID],
             invalid: [String], broken: Set<EnvironmentName>) {
            (self.tree, self.read, self.ordered, self.invalid, self.broken, self.desired) = (tree, (environments, others), ordered, invalid, broken, nil)
        }

        /// Whether a manifest file is at `path`, valid or not.
        func hasFile(_ path: String) -> Bool {
            if let desired { return desired.files[path] != nil }
            return read.others[path] != nil || EnvironmentName(manifestPath: path).map(contains) ?? false
        }

        /// A valid environment's facts.
        func environment(_ name: EnvironmentName) -> Environment? {
            guard let desired else { return read.environments[name]?.facts }
            guard let manifest = desired.environments.manifests[name], let blob = desired.blobs[name] else { return nil }
            return Environment(blob: blob, service: manifest.service, version: manifest.version, upstream: manifest.upstream,
                               replicas: manifest.run.replicas)
        }

        /// What a valid environment needs of this machine.
        func needs(_ name: EnvironmentName) -> MachineNeeds? {
            guard let desired else { return read.environments[name]?.needs }
            return desired.environments.manifests[name].map(MachineNeeds.init)
        }

        /// A valid environment's upstream.
        func upstream(of name: EnvironmentName) -> EnvironmentName? {
            guard let desired else { return read.environments[name]?.facts.upstream }
            return desired.environments.upstreams[name]
        }

        func contains(_ name: EnvironmentName) -> Bool {
            desired?.environments.manifests.index(forKey: name) != nil || read.environments.index(forKey: name) != nil
        }

        /// This outline (read from the file) for the `Environments/` tree `tree`, which differs
        /// from its own by `changes` (`GitRepository.treeChanges`), parsing only the files that
        /// differ (`parse`), when the result is sure to be what reading them all would give:
        /// nothing invalid before or after, no changed file names an upstream or is one, none
        /// shares an address, nothing untrusted (as `EnvironmentSet.updating` keeps a desired
        /// state, on these facts instead of manifests); nil otherwise. A commit to one
        /// environment of thousands costs `slipway plan` that environment.
        func updating(to tree: ObjectID, changes: [(name: String, old: ObjectID?, new: ObjectID?)], untrusted: Set<String>,
                      parse: (_ path: String, _ blob: ObjectID) async -> ParsedManifest?) async -> Outline? {
            guard desired == nil, invalid.isEmpty, read.others.isEmpty, untrusted.isEmpty else { return nil }
            var read = self.read.environments, changed: [(name: EnvironmentName, path: String, blob: ObjectID?)] = []
            for change in changes where EnvironmentSet.isRead(change.name) {
                let path = "\(OpsRepository.environmentsDirectory)/\(change.name)"
                // A file that names no environment is invalid; one this outline does not have as it was is not this tree's.
                guard let name = EnvironmentName(manifestPath: path), read[name]?.facts.blob == change.old else { return nil }
                changed.append((name, path, change.new))
            }
            guard changed.count <= max(16, read.count / 4) else { return nil }  // past it, reading them all costs less
            let upstreams = Set(read.values.compactMap(\.facts.upstream))
            var ports: [Int: [(name: EnvironmentName, address: ListenAddress)]] = [:]
            let names = Set(changed.map(\.name))
            for (name, entry) in read where !names.contains(name) {
                for address in entry.needs.addresses { ports[address.address.port, default: []].append((name, address.address)) }
            }
            for change in changed {
                guard read[change.name]?.facts.upstream == nil, !upstreams.contains(change.name) else { return nil }
                read[change.name] = nil
                guard let blob = change.blob else { continue }
                guard let parsed = await parse(change.path, blob), parsed.diagnostics.isEmpty, parsed.name == change.name,
                      let manifest = parsed.manifest, manifest.upstream == nil else { return nil }
                let needs = MachineNeeds(manifest)
                for address in needs.addresses {
                    if ports[address.address.port]?.contains(where: { $0.name != change.name && $0.address.overlaps(address.address) }) == true { return nil }
                    ports[address.address.port, default: []].append((change.name, address.address))
                }
                read[change.name] = (Environment(blob: blob, service: manifest.service, version: manifest.version, upstream: nil,
                                                 replicas: manifest.run.replicas), needs)
            }
            return Outline(tree: tree, environments: read, ordered: EnvironmentSet.order(Array(read.keys), upstreams: read.compactMapValues(\.facts.upstream)),
                           others: [:], invalid: [], broken: [])
        }
    }
}
