import ArgumentParser
import KinevoxCapture

/// `kinevox devices`: the ALSA PCMs that can capture, as `[capture] device` accepts them.
struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List ALSA capture devices (names for [capture] device).",
        discussion: "Besides these, device = \"file:PATH.wav\" plays a recording through ALSA's file plugin.")

    func run() throws {
        if soundCardNames().isEmpty {
            print("no sound card on this machine: ALSA sees no card, so no PCM below can capture from a microphone "
                  + "(kinevoxd keeps serving push-to-talk and WAV drop; device = \"file:PATH.wav\" captures from a recording)")
        }
        let devices = captureDeviceNames()
        if devices.isEmpty {
            print("no ALSA capture devices found (use device = \"file:PATH.wav\" to capture from a recording)")
        }
        for device in devices {
            print(device.description.isEmpty ? device.name : "\(device.name)\t\(device.description)")
        }
    }
}
