import Foundation
import SlipwayEngine
#if canImport(Glibc)
import Glibc
#endif

/// Draws progress on stderr: one line redrawn in place on a terminal, plain lines otherwise.
struct ProgressDisplay: ProgressReporter {
    let isTerminal = isatty(2) == 1
    let started = ContinuousClock.now

    func report(_ event: ProgressEvent) {
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
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
