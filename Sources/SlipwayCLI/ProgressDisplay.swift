import Foundation
import SlipwayEngine
import Synchronization
import SlipwayCore
#if canImport(Glibc)
import Glibc
#endif

/// Draws progress on stderr: one line redrawn in place on a terminal, plain lines otherwise
/// (where a wait's status, repeated every second, is written every 10 s).
struct ProgressDisplay: ProgressReporter {
    let isTerminal = isatty(2) == 1
    let started = ContinuousClock.now
    private let lastWaitLine = WaitLine()

    /// When each environment's wait status was last written.
    final class WaitLine: Sendable {
        let written = Mutex<[EnvironmentName: ContinuousClock.Instant]>([:])
    }

    func report(_ event: ProgressEvent) {
        if event.isWaiting, !isTerminal {
            let due = lastWaitLine.written.withLock { written in
                guard written[event.environment].map({ ContinuousClock.now - $0 >= .seconds(10) }) ?? true else { return false }
                written[event.environment] = .now
                return true
            }
            guard due else { return }
        }
        let seconds = (ContinuousClock.now - started).inSeconds
        let line = String(format: "[%3d%%] %@ · %@ · %@ (%.1fs)", event.percent, event.environment.rawValue, event.phase.rawValue, event.message, seconds)
        if isTerminal {
            let width = 120
            let clipped = line.count > width ? String(line.prefix(width - 1)) + "…" : line
            FileHandle.standardError.write(Data(("\r\u{1B}[2K" + clipped + (event.percent == 100 ? "\n" : "")).utf8))
        } else {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }
}
