import Foundation
import SlipwayManifest
import SlipwayRecords
#if canImport(Glibc)
import Glibc
#endif

/// One input: its first byte picks what reads the rest — a manifest, a status file, a record,
/// or a record's file name and the line scanner history uses.
func fuzz(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: start, count: count)
    let data = Data(input.dropFirst())
    let text = String(decoding: data, as: UTF8.self)
    let began = ContinuousClock.now
    switch input[0] % 4 {
    case 0: _ = try? ManifestParser.parse(data, path: "Environments/fuzz.yaml")
    case 1: _ = try? FrontMatter.parseStatus(text)
    case 2: _ = try? FrontMatter.parseRecord(text)
    default:
        _ = RecordFile(name: text)
        _ = RecordFile.deployment(inName: text)
        _ = FrontMatter.scalars(["version", "previousVersion", "result", "service"], in: data)
    }
    Slowest.note(ContinuousClock.now - began, input: input)
    return 0
}

/// The slowest input so far, written to `slowest.txt` and `slowest.input` whenever it changes.
enum Slowest {
    // libFuzzer calls the entry point from one thread at a time.
    nonisolated(unsafe) static var duration: Duration = .zero

    static func note(_ elapsed: Duration, input: UnsafeRawBufferPointer) {
        guard elapsed > duration else { return }
        duration = elapsed
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        try? Data(String(format: "%.3f ms, %d bytes\n", milliseconds, input.count).utf8).write(to: URL(fileURLWithPath: "slowest.txt"))
        try? Data(input).write(to: URL(fileURLWithPath: "slowest.input"))
    }
}
