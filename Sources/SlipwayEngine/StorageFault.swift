import Foundation
import SlipwayHost
import Synchronization
public import SlipwayCore

/// A write to the state directory failed: a full disk, a quota, a filesystem gone read-only or
/// failing. A run that meets one stops where it is, as a kill would stop it: it writes nothing
/// more, gives the traffic back to the last good version through HAProxy's runtime API (which
/// writes nothing), and leaves its journal for `recoverInterrupted` once writes work again. It
/// is never remembered as a failure of the version (README, "A full disk").
struct StorageFault: Error, CustomStringConvertible {
    var description: String

    init(_ error: any Error) { description = ErrorText.sentence(error) }

    /// `error` as a storage fault when it is one (its own cause or any underlying one).
    static func from(_ error: any Error) -> StorageFault? {
        if let fault = error as? StorageFault { return fault }
        if let stopped = error as? StoppedRun { return stopped.fault }  // an upstream's run, inside staging
        let posix: Set<Int> = [Int(ENOSPC), Int(EDQUOT), Int(EROFS), Int(EIO)]
        let cocoa: Set<Int> = [CocoaError.fileWriteOutOfSpace.rawValue, CocoaError.fileWriteVolumeReadOnly.rawValue]
        var next: NSError? = error as NSError
        for _ in 0..<8 {  // a chain of underlying errors, bounded
            guard let current = next else { break }
            if (current.domain == NSPOSIXErrorDomain && posix.contains(current.code)) || (current.domain == NSCocoaErrorDomain && cocoa.contains(current.code)) {
                return StorageFault(error)
            }
            next = current.userInfo[NSUnderlyingErrorKey] as? NSError
        }
        return nil
    }
}

extension StateDirectory {
    /// The fault when the environment's folder does not take a 4 KiB file now, nil when it does:
    /// asked after a step failed for another reason, since a full disk can fail a step in ways
    /// that do not say so (a gate or an instance that could not write and exited).
    func probeWrites(_ name: EnvironmentName) -> StorageFault? {
        let probe = environment(name).appendingPathComponent("probe")
        defer { unlink(probe.path) }
        do {
            try Data(count: 4096).write(to: probe)
            return nil
        } catch {
            return StorageFault.from(error)
        }
    }
}

/// A run or heal a storage fault stopped: nothing of it is committed until
/// `recoverInterrupted` finishes it; `afterwards` says what serves meanwhile. Not a failure of
/// the version: the daemon tries again later and counts it toward no crash loop.
public struct StoppedRun: Error, CustomStringConvertible {
    let fault: StorageFault
    let afterwards: String
    /// False when not even its first journal entry could be written: it did nothing.
    var started = true

    public var description: String {
        started ? "stopped: the state directory cannot be written (\(fault)); \(afterwards); the run is finished and recorded once it can be written again"
            : "not started: the state directory cannot be written (\(fault)); tried again once it can"
    }
}

/// What stopped each environment's last run, for the record that `recoverInterrupted` writes
/// once it can (kept in memory: a Slipway restarted meanwhile says it was stopped).
public final class StorageFaults: Sendable {
    private let faults = Mutex<[EnvironmentName: String]>([:])

    public init() {}

    func note(_ name: EnvironmentName, _ fault: StorageFault) { faults.withLock { $0[name] = fault.description } }

    func fault(of name: EnvironmentName) -> String? { faults.withLock { $0[name] } }

    /// Once the run's record is committed.
    func clear(_ name: EnvironmentName) { faults.withLock { _ = $0.removeValue(forKey: name) } }
}
