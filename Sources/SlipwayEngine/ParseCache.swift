import Foundation
import Synchronization
import SlipwayCore
import SlipwayManifest
import SlipwayRecords

/// Manifests and status files already parsed, by path and blob id: a file that has not changed
/// since the last look is neither read from git nor parsed again (README, "The daemon"). The
/// daemon keeps one for its life, so each commit costs what it changed. Parsing depends on
/// nothing but the file's content and path (trust is judged on top of it), so an entry never
/// goes stale; manifests are kept for the latest tree asked about (and a few from before it).
final class ParseCache: Sendable {
    struct Key: Hashable {
        let path: String
        let blob: ObjectID
    }

    private let manifests = Mutex<[Key: ParsedManifest]>([:])
    /// Manifests of other trees: the ones deployed, or that failed (bounded as statuses are).
    private let older = Mutex<[Key: ParsedManifest]>([:])
    private let statuses = Mutex<[Key: Result<EnvironmentStatus, EngineError>]>([:])
    /// Files parsed since the cache was made (manifests, status files): what the cache saved is what these do not count.
    let parsed = Mutex((manifests: 0, statuses: 0))

    /// The desired state of the last `Environments/` tree read, with the paths that did not count.
    private let desired = Mutex<(tree: ObjectID, untrusted: Set<String>, desired: DesiredState)?>(nil)

    /// The blob of each status file of the last `Status/` tree read.
    let lastStatuses = Mutex<(tree: ObjectID, blobs: [EnvironmentName: ObjectID])?>(nil)

    /// The parsed manifest of each of `keys`, nil where it is not known.
    func manifests(_ keys: [Key]) -> [ParsedManifest?] {
        manifests.withLock { known in keys.map { known[$0] } }
    }

    /// The last desired state kept, and its tree, when it was read with `untrusted`.
    func lastDesired(untrusted: Set<String>) -> (tree: ObjectID, desired: DesiredState)? {
        desired.withLock { last in last.flatMap { $0.untrusted == untrusted ? ($0.tree, $0.desired) : nil } }
    }

    /// How many manifests are kept for the tip's tree and the trees before it.
    var manifestCount: Int { manifests.withLock { $0.count } }

    /// Keeps one manifest of the tip's tree beside the others (those of the last tree stay).
    func add(manifest parsed: ParsedManifest, for key: Key) {
        self.parsed.withLock { $0.manifests += 1 }
        manifests.withLock { $0[key] = parsed }
    }

    func keep(desired state: DesiredState, tree: ObjectID, untrusted: Set<String>) {
        desired.withLock { $0 = (tree, untrusted, state) }
    }

    /// Keeps `parsed`, and forgets the manifests not in `current` (the tree just read) once
    /// they are a quarter of it: a pass that changed one manifest does not copy the others.
    func keep(manifests parsed: [Key: ParsedManifest], current: Set<Key>) {
        self.parsed.withLock { $0.manifests += parsed.count }
        manifests.withLock { known in
            known.merge(parsed) { _, new in new }
            if known.count > current.count + max(16, current.count / 4) { known = known.filter { current.contains($0.key) } }
        }
    }

    /// A manifest by path and blob, from the tip's tree or an older one, when known.
    func manifest(_ key: Key) -> ParsedManifest? {
        manifests.withLock { $0[key] } ?? older.withLock { $0[key] }
    }

    /// Keeps a manifest of another tree than the tip's.
    func keep(older parsed: ParsedManifest, for key: Key) {
        self.parsed.withLock { $0.manifests += 1 }
        Self.store(parsed, for: key, in: older, bound: bound)
    }

    /// At most 4 per manifest of the tip, and 1,000 at least: a bound, not a working set (a
    /// status changes with every deployment), emptied when reached.
    private var bound: Int { max(1_000, 4 * manifests.withLock { $0.count }) }

    private static func store<Value: Sendable>(_ value: Value, for key: Key, in map: borrowing Mutex<[Key: Value]>, bound: Int) {
        map.withLock { known in
            if known.count >= bound { known.removeAll(keepingCapacity: true) }
            known[key] = value
        }
    }

    /// A status file's parse, when known.
    func status(_ key: Key) -> Result<EnvironmentStatus, EngineError>? { statuses.withLock { $0[key] } }

    /// Keeps a status file's parse.
    func keep(status result: Result<EnvironmentStatus, EngineError>, for key: Key) {
        parsed.withLock { $0.statuses += 1 }
        Self.store(result, for: key, in: statuses, bound: bound)
    }
}
