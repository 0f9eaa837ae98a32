import CALSA
import Foundation

/// An ALSA PCM that can capture: its name (for `[capture] device`) and ALSA's one-line description.
public struct CaptureDeviceName: Equatable, Sendable {
    public var name: String
    public var description: String
}

/// Lists the ALSA PCMs whose hints say they capture (ALSA's `snd_device_name_hint`). Any thread.
public func captureDeviceNames() -> [CaptureDeviceName] {
    var hints: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
    guard snd_device_name_hint(-1, "pcm", &hints) >= 0, let hints else { return [] }
    defer { snd_device_name_free_hint(hints) }
    func hint(_ entry: UnsafeMutableRawPointer, _ id: String) -> String? {
        guard let text = snd_device_name_get_hint(entry, id) else { return nil }
        defer { free(text) }
        return String(cString: text)
    }
    var devices: [CaptureDeviceName] = []
    var cursor = hints
    while let entry = cursor.pointee {
        defer { cursor += 1 }
        guard let name = hint(entry, "NAME") else { continue }
        let direction = hint(entry, "IOID")
        guard direction == nil || direction == "Input" else { continue }
        let description = (hint(entry, "DESC") ?? "").split(separator: "\n").map(String.init).joined(separator: ", ")
        devices.append(CaptureDeviceName(name: name, description: description))
    }
    return devices
}

/// The sound cards ALSA sees (`snd_card_next`), by their long names; empty on a machine without one. Any thread.
public func soundCardNames() -> [String] {
    var names: [String] = []
    var card: Int32 = -1
    while snd_card_next(&card) >= 0 && card >= 0 {
        var name: UnsafeMutablePointer<CChar>?
        if snd_card_get_longname(card, &name) >= 0, let name {
            names.append(String(cString: name))
            free(name)
        } else {
            names.append("card \(card)")
        }
    }
    return names
}
