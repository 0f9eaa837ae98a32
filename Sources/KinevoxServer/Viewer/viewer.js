// Kinevox viewer: draws the 22-joint avatar streamed by kinevoxd (protocol kinevox.v1) with
// three.js as a mannequin (shaded capsules and a soft floor shadow, driven only by the joints), shows
// what the model can be asked ("try saying…", from hello.commands), the server microphone's state and
// what was understood, and sends push-to-talk audio (microphone or a dropped WAV) as 16 kHz s16le chunks.
// State a test (or a curious user) can read is exposed as window.kinevoxViewer.
(function () {
  "use strict";

  var PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19];
  // Capsule radius (m) of the segment from each joint's parent to the joint: hips and spine make the
  // torso, then thighs, shins, feet, neck, collars, upper arms, forearms.
  var SEGMENT_RADIUS = [0, 0.085, 0.085, 0.11, 0.07, 0.07, 0.115, 0.052, 0.052, 0.12, 0.042, 0.042,
    0.055, 0.065, 0.065, 0.05, 0.06, 0.06, 0.047, 0.047, 0.039, 0.039];
  var HEAD = 15, HEAD_RADIUS = 0.105;
  var BODY_COLOUR = 0xd99a5b;
  var UPLOAD_RATE = 16000;
  var CHUNK_SAMPLES = 4096;

  var statusEl = document.getElementById("status");
  var micEl = document.getElementById("mic");
  var understoodEl = document.getElementById("understood");
  var examplesEl = document.getElementById("examples");
  var allEl = document.getElementById("all");
  var allToggleEl = document.getElementById("all-toggle");
  var recordingEl = document.getElementById("recording");
  var talkEl = document.getElementById("talk");
  var problemEl = document.getElementById("problem");
  var dropEl = document.getElementById("drop");

  var state = {
    connected: false,
    framesReceived: 0,
    framesRendered: 0,
    motionId: null,
    lastUtterance: null,
    latencyMs: null,
    error: null,
    pageErrors: [],
    threeLoaded: typeof THREE !== "undefined",
    microphone: null,
    commands: null,
    understood: null,
    recording: false,
    pelvisRendered: function () { return avatar ? avatar.joints[0].position.toArray() : null; },
    bodyPixels: function () { return avatar ? countBodyPixels() : null; }
  };
  window.kinevoxViewer = state;
  window.addEventListener("error", function (e) { state.pageErrors.push(String(e.message)); });
  window.addEventListener("unhandledrejection", function (e) { state.pageErrors.push(String(e.reason)); });

  function showProblem(text) {
    problemEl.textContent = text;
    problemEl.style.display = "block";
    state.error = text;
  }

  function describe() {
    var parts = [state.connected ? "connected" : "disconnected (retrying; a server with a token needs ?token=… in this page's address)"];
    if (state.lastUtterance) {
      parts.push("last utterance #" + state.lastUtterance.id + " (" + (state.lastUtterance.duration_ms / 1000).toFixed(1) + " s)");
    } else {
      parts.push("no utterance yet");
    }
    if (state.latencyMs !== null) parts.push("latency " + state.latencyMs + " ms");
    if (state.motionId !== null) parts.push("motion #" + state.motionId);
    statusEl.textContent = parts.join(" · ");
  }

  // ---- scene -------------------------------------------------------------------------------
  var avatar = null, renderer = null, scene = null, camera = null, pose = null, poseDirty = false;
  var focus = null;

  function buildScene() {
    var stage = document.getElementById("stage");
    renderer = new THREE.WebGLRenderer({ antialias: true });
    renderer.setPixelRatio(window.devicePixelRatio || 1);
    renderer.setSize(window.innerWidth, window.innerHeight);
    stage.appendChild(renderer.domElement);
    scene = new THREE.Scene();
    scene.background = new THREE.Color(0x1d2228);
    camera = new THREE.PerspectiveCamera(45, window.innerWidth / window.innerHeight, 0.05, 100);
    scene.add(new THREE.HemisphereLight(0xffffff, 0x445566, 0.9));
    var sun = new THREE.DirectionalLight(0xffffff, 0.6);
    sun.position.set(3, 6, 4);
    scene.add(sun);
    // Floor: a 40 m plane with a 0.5 m grid drawn into a repeating texture (line primitives
    // are unreliable in software GL, a texture works everywhere).
    var cell = document.createElement("canvas");
    cell.width = cell.height = 64;
    var pen = cell.getContext("2d");
    pen.fillStyle = "#2c343d";
    pen.fillRect(0, 0, 64, 64);
    pen.fillStyle = "#6b7b8c";
    pen.fillRect(0, 0, 64, 2);
    pen.fillRect(0, 0, 2, 64);
    var gridTexture = new THREE.CanvasTexture(cell);
    gridTexture.wrapS = gridTexture.wrapT = THREE.RepeatWrapping;
    gridTexture.repeat.set(80, 80);
    gridTexture.anisotropy = renderer.capabilities.getMaxAnisotropy();
    var floor = new THREE.Mesh(new THREE.PlaneBufferGeometry(40, 40), new THREE.MeshLambertMaterial({ map: gridTexture }));
    floor.rotation.x = -Math.PI / 2;
    scene.add(floor);

    // The mannequin: a cylinder per segment and a sphere per joint make capsules whose ends meet;
    // the head is one larger sphere. Everything is placed from the 22 joints alone (applyPose).
    var bodyMaterial = new THREE.MeshPhongMaterial({ color: BODY_COLOUR, shininess: 18, specular: 0x332211 });
    var sphere = new THREE.SphereBufferGeometry(1, 20, 14);
    var cylinder = new THREE.CylinderBufferGeometry(1, 1, 1, 20, 1, true);
    avatar = { joints: [], bones: [], group: new THREE.Group() };
    avatar.group.visible = false;  // shown once the first pose arrives (hello carries one)
    scene.add(avatar.group);
    for (var j = 0; j < PARENTS.length; j++) {
      var ball = new THREE.Mesh(sphere, bodyMaterial);
      var radius = SEGMENT_RADIUS[j];
      for (var k = 0; k < PARENTS.length; k++) if (PARENTS[k] === j) radius = Math.max(radius, SEGMENT_RADIUS[k]);
      ball.scale.setScalar(j === HEAD ? HEAD_RADIUS : radius);
      avatar.group.add(ball);
      avatar.joints.push(ball);
      if (PARENTS[j] >= 0) {
        var bone = new THREE.Mesh(cylinder, bodyMaterial);
        avatar.group.add(bone);
        avatar.bones.push({ mesh: bone, child: j, parent: PARENTS[j], radius: SEGMENT_RADIUS[j] });
      }
    }
    // Soft shadow: a blurred disc on the floor under the body, sized by the body's spread.
    var blob = document.createElement("canvas");
    blob.width = blob.height = 128;
    var shade = blob.getContext("2d");
    var gradient = shade.createRadialGradient(64, 64, 0, 64, 64, 64);
    gradient.addColorStop(0, "rgba(0,0,0,0.55)");
    gradient.addColorStop(0.55, "rgba(0,0,0,0.28)");
    gradient.addColorStop(1, "rgba(0,0,0,0)");
    shade.fillStyle = gradient;
    shade.fillRect(0, 0, 128, 128);
    avatar.shadow = new THREE.Mesh(new THREE.PlaneBufferGeometry(1, 1),
      new THREE.MeshBasicMaterial({ map: new THREE.CanvasTexture(blob), transparent: true, depthWrite: false }));
    avatar.shadow.rotation.x = -Math.PI / 2;
    avatar.shadow.position.y = 0.002;
    avatar.shadow.visible = false;
    scene.add(avatar.shadow);
    focus = new THREE.Vector3(0, 0.9, 0);
    UP = new THREE.Vector3(0, 1, 0);
    tmpA = new THREE.Vector3();
    tmpB = new THREE.Vector3();
    window.addEventListener("resize", function () {
      camera.aspect = window.innerWidth / window.innerHeight;
      camera.updateProjectionMatrix();
      renderer.setSize(window.innerWidth, window.innerHeight);
    });
  }

  var UP = null, tmpA = null, tmpB = null;

  function applyPose(joints) {
    avatar.group.visible = true;
    avatar.shadow.visible = true;
    var minX = Infinity, maxX = -Infinity, minZ = Infinity, maxZ = -Infinity;
    for (var j = 0; j < joints.length; j++) {
      avatar.joints[j].position.set(joints[j][0], joints[j][1], joints[j][2]);
      minX = Math.min(minX, joints[j][0]); maxX = Math.max(maxX, joints[j][0]);
      minZ = Math.min(minZ, joints[j][2]); maxZ = Math.max(maxZ, joints[j][2]);
    }
    for (var b = 0; b < avatar.bones.length; b++) {
      var bone = avatar.bones[b];
      tmpA.fromArray(joints[bone.parent]);
      tmpB.fromArray(joints[bone.child]);
      var length = tmpA.distanceTo(tmpB);
      bone.mesh.position.copy(tmpA).add(tmpB).multiplyScalar(0.5);
      tmpB.sub(tmpA);
      if (length > 1e-6) bone.mesh.quaternion.setFromUnitVectors(UP, tmpB.divideScalar(length));
      bone.mesh.scale.set(bone.radius, Math.max(length, 1e-3), bone.radius);
    }
    // The shadow follows the pelvis on the floor; it fades as the body rises (a jump).
    var lowest = Infinity;
    for (var f = 0; f < joints.length; f++) lowest = Math.min(lowest, joints[f][1]);
    avatar.shadow.position.x = (minX + maxX) / 2;
    avatar.shadow.position.z = (minZ + maxZ) / 2;
    avatar.shadow.scale.set(maxX - minX + 0.6, maxZ - minZ + 0.6, 1);
    avatar.shadow.material.opacity = Math.max(0.2, 1 - Math.max(0, lowest) * 1.5);
  }

  // Renders once and counts, inside the screen box of the joints, the pixels of the body's colour: what
  // a test (and a user) sees. Returns {box: [x0, y0, x1, y1] in CSS pixels, pixels, bodyPixels}.
  function countBodyPixels() {
    renderer.render(scene, camera);
    var canvas = renderer.domElement, scale = canvas.width / canvas.clientWidth;
    var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity, p = new THREE.Vector3();
    for (var j = 0; j < avatar.joints.length; j++) {
      p.copy(avatar.joints[j].position).project(camera);
      var x = (p.x + 1) / 2 * canvas.clientWidth, y = (1 - p.y) / 2 * canvas.clientHeight;
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
    var copy = document.createElement("canvas");
    copy.width = canvas.width;
    copy.height = canvas.height;
    var pen = copy.getContext("2d");
    pen.drawImage(canvas, 0, 0);
    var left = Math.max(0, Math.floor(x0 * scale)), top = Math.max(0, Math.floor(y0 * scale));
    var width = Math.max(1, Math.min(copy.width - left, Math.ceil((x1 - x0) * scale))),
        height = Math.max(1, Math.min(copy.height - top, Math.ceil((y1 - y0) * scale)));
    var data = pen.getImageData(left, top, width, height).data, body = 0;
    for (var i = 0; i < data.length; i += 4) {
      var r = data[i], g = data[i + 1], bl = data[i + 2];
      if (r > 90 && r > g + 15 && g > bl + 10) body++;  // the mannequin's warm tan, lit or shaded
    }
    return { box: [x0, y0, x1, y1], pixels: width * height, bodyPixels: body };
  }

  function render() {
    requestAnimationFrame(render);
    if (poseDirty) {
      applyPose(pose);
      poseDirty = false;
      state.framesRendered++;
    }
    if (pose) {
      // The camera follows the pelvis smoothly, from the front-right, looking slightly down.
      tmpA.set(pose[0][0], 0.9, pose[0][2]);
      focus.lerp(tmpA, 0.08);
    }
    camera.position.set(focus.x + 2.0, focus.y + 1.5, focus.z + 3.3);
    camera.lookAt(focus);
    renderer.render(scene, camera);
  }

  // ---- stream ------------------------------------------------------------------------------
  var socket = null;
  var token = new URLSearchParams(window.location.search).get("token");

  function connect() {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/";
    if (token) url += "?token=" + encodeURIComponent(token);
    socket = new WebSocket(url, "kinevox.v1");
    socket.binaryType = "arraybuffer";
    socket.onopen = function () { state.connected = true; talkEl.disabled = false; describe(); };
    socket.onclose = function () {
      state.connected = false;
      talkEl.disabled = true;
      describe();
      setTimeout(connect, 2000);
    };
    socket.onmessage = function (event) {
      if (typeof event.data !== "string") return;
      handle(JSON.parse(event.data));
    };
  }

  // One server message (protocol kinevox.v1); unknown types are ignored.
  function handle(m) {
    switch (m.type) {
      case "hello":
        if (m.pose) { pose = m.pose; poseDirty = !!avatar; }
        showMicrophone(m.microphone || null);
        showCommands(m.commands || null);
        break;
      case "microphone":
        showMicrophone(m);
        break;
      case "utterance":
        state.lastUtterance = { id: m.id, duration_ms: m.duration_ms };
        showUnderstood(m);
        break;
      case "motion.begin":
        state.motionId = m.id;
        if (typeof m.latency_ms === "number") state.latencyMs = m.latency_ms;
        break;
      case "frame":
        pose = m.joints;
        poseDirty = !!avatar;
        state.framesReceived++;
        break;
      case "motion.end":
        break;
      case "error":
        statusEl.textContent = "server: " + m.message;
        return;
    }
    describe();
  }
  state.handle = handle;  // for tests: what the page does with one message


  // ---- panel: microphone, what was understood, what to say ---------------------------------
  function showMicrophone(mic) {
    state.microphone = mic;
    var text = "server microphone: unknown";
    if (mic && mic.state === "on") text = "server microphone: on (" + mic.detail + ")";
    else if (mic && mic.state === "none") text = "server microphone: no sound card — hold to talk or drop a WAV";
    else if (mic && mic.state === "off") text = "server microphone: off (" + mic.detail + ")";
    else if (mic && mic.state === "starting") text = "server microphone: starting…";
    micEl.textContent = text;
    micEl.className = mic ? "mic-" + mic.state : "";
  }

  // An action name as people say it: "wave-right-hand" → "wave, right hand", "walk-back" → "walk back".
  function actionWords(action) {
    var hand = /^(.*?)-(left|right|both)-(hands?)$/.exec(action);
    if (hand) return hand[1].replace(/-/g, " ") + ", " + hand[2] + " " + hand[3];
    return action.replace(/-/g, " ");
  }
  state.actionWords = actionWords;

  // An utterance message may say what the model understood: `understood` (true/false, or a text), `action`,
  // `confidence` (0–1). Without those fields nothing is shown.
  function showUnderstood(m) {
    var what = typeof m.understood === "string" ? m.understood : (typeof m.action === "string" ? actionWords(m.action) : null);
    var text = null;
    if (m.understood === false || (what === null && ("understood" in m || "action" in m) && !m.action)) {
      text = "didn't catch that";
    } else if (what !== null) {
      text = "understood: " + what;
      if (typeof m.confidence === "number") text += " · " + m.confidence.toFixed(2);
    }
    if (text === null) return;
    state.understood = text;
    understoodEl.textContent = text;
    understoodEl.style.display = "block";
  }

  function showCommands(commands) {
    state.commands = commands;
    examplesEl.textContent = "";
    allEl.textContent = "";
    if (!commands || !commands.examples) {
      examplesEl.appendChild(listItem("(this model file lists no commands)"));
      allToggleEl.style.display = "none";
      return;
    }
    commands.examples.forEach(function (e) { examplesEl.appendChild(listItem("\u201c" + e + "\u201d")); });
    (commands.actions || []).forEach(function (a) {
      var row = document.createElement("div");
      var name = document.createElement("b");
      name.textContent = a.action + ": ";
      row.appendChild(name);
      row.appendChild(document.createTextNode(a.say.join(" · ")));
      allEl.appendChild(row);
    });
    if (commands.styles && commands.styles.length) {
      var styles = document.createElement("div");
      styles.className = "styles";
      styles.textContent = "in any manner: " + commands.styles.join(" · ");
      allEl.appendChild(styles);
    }
    allToggleEl.style.display = "";
  }

  function listItem(text) {
    var item = document.createElement("li");
    item.textContent = text;
    return item;
  }

  allToggleEl.addEventListener("click", function () {
    var show = allEl.hidden;
    allEl.hidden = !show;
    allToggleEl.textContent = show ? "fewer commands" : "all commands";
  });

  function setRecording(on) {
    state.recording = on;
    recordingEl.style.display = on ? "flex" : "none";
  }

  // ---- push-to-talk ------------------------------------------------------------------------
  function sendUtterance(int16Chunks) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ type: "audio.begin", sample_rate: UPLOAD_RATE, encoding: "s16le" }));
    int16Chunks.forEach(function (chunk) { socket.send(chunk.buffer); });
    socket.send(JSON.stringify({ type: "audio.end" }));
  }

  function toInt16(floats) {
    var out = new Int16Array(floats.length);
    for (var i = 0; i < floats.length; i++) {
      var s = Math.max(-1, Math.min(1, floats[i]));
      out[i] = s < 0 ? s * 32768 : s * 32767;
    }
    return out;
  }

  // Linear-interpolation rate change, used only when the browser's audio runs at another rate.
  function toUploadRate(floats, rate) {
    if (rate === UPLOAD_RATE) return floats;
    var n = Math.floor(floats.length * UPLOAD_RATE / rate);
    var out = new Float32Array(n);
    for (var i = 0; i < n; i++) {
      var x = i * rate / UPLOAD_RATE, k = Math.floor(x), f = x - k;
      out[i] = floats[k] * (1 - f) + (k + 1 < floats.length ? floats[k + 1] : floats[k]) * f;
    }
    return out;
  }

  var mic = null;

  // Prefer a 16 kHz context (the browser resamples the microphone); browsers that cannot mix
  // rates get their native rate and toUploadRate converts.
  function openCapture(stream) {
    var context = null;
    try {
      context = new AudioContext({ sampleRate: UPLOAD_RATE });
      return { context: context, source: context.createMediaStreamSource(stream) };
    } catch (e) {
      if (context) context.close();
      context = new AudioContext();
      return { context: context, source: context.createMediaStreamSource(stream) };
    }
  }

  // Browsers offer the microphone only to secure pages (HTTPS, or http://localhost): a page opened from
  // another host over plain HTTP has no navigator.mediaDevices at all.
  var MIC_NEEDS_SECURE_PAGE = "microphone needs HTTPS or localhost — drop a WAV file instead";
  var micAvailable = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  state.micAvailable = micAvailable;

  function startTalking() {
    if (mic || talkEl.disabled) return;
    if (!micAvailable) {
      statusEl.textContent = MIC_NEEDS_SECURE_PAGE;
      state.notice = MIC_NEEDS_SECURE_PAGE;
      return;
    }
    mic = { chunks: [], live: true };
    talkEl.classList.add("live");
    setRecording(true);
    navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } })
      .then(function (stream) {
        if (!mic || !mic.live) { stream.getTracks().forEach(function (t) { t.stop(); }); return; }
        var capture = openCapture(stream);
        var context = capture.context, source = capture.source;
        var processor = context.createScriptProcessor(CHUNK_SAMPLES, 1, 1);
        processor.onaudioprocess = function (event) {
          if (!mic) return;
          var input = event.inputBuffer.getChannelData(0);
          mic.chunks.push(toInt16(toUploadRate(new Float32Array(input), context.sampleRate)));
        };
        source.connect(processor);
        processor.connect(context.destination);
        mic.stop = function () {
          processor.disconnect();
          source.disconnect();
          stream.getTracks().forEach(function (t) { t.stop(); });
          context.close();
        };
      })
      .catch(function (error) {
        statusEl.textContent = "microphone unavailable: " + error.message;
        mic = null;
        talkEl.classList.remove("live");
        setRecording(false);
      });
  }

  function stopTalking() {
    if (!mic) return;
    var finished = mic;
    mic = null;
    finished.live = false;
    talkEl.classList.remove("live");
    setRecording(false);
    if (finished.stop) finished.stop();
    if (finished.chunks.length) sendUtterance(finished.chunks);
  }

  talkEl.addEventListener("mousedown", startTalking);
  talkEl.addEventListener("touchstart", function (e) { e.preventDefault(); startTalking(); });
  window.addEventListener("mouseup", stopTalking);
  window.addEventListener("touchend", stopTalking);
  window.addEventListener("keydown", function (e) { if (e.code === "Space" && !e.repeat) { e.preventDefault(); startTalking(); } });
  window.addEventListener("keyup", function (e) { if (e.code === "Space") stopTalking(); });

  // WAV drag-and-drop: decode in the browser, mix to mono, resample to 16 kHz, send as push-to-talk.
  function sendFile(file) {
    file.arrayBuffer().then(function (bytes) {
      var decoder = new AudioContext();
      return decoder.decodeAudioData(bytes).then(function (audio) {
        decoder.close();
        var frames = Math.ceil(audio.duration * UPLOAD_RATE);
        var offline = new OfflineAudioContext(1, Math.max(frames, 1), UPLOAD_RATE);
        var source = offline.createBufferSource();
        source.buffer = audio;
        source.connect(offline.destination);
        source.start();
        return offline.startRendering();
      });
    }).then(function (rendered) {
      var samples = toInt16(rendered.getChannelData(0));
      var chunks = [];
      for (var i = 0; i < samples.length; i += CHUNK_SAMPLES) chunks.push(samples.slice(i, i + CHUNK_SAMPLES));
      sendUtterance(chunks);
      statusEl.textContent = "sent " + file.name + " (" + (samples.length / UPLOAD_RATE).toFixed(1) + " s)";
    }).catch(function (error) {
      statusEl.textContent = "cannot decode " + file.name + ": " + error.message;
    });
  }

  state.sendFile = sendFile;  // for scripts and tests: send a File/Blob holding a WAV

  window.addEventListener("dragover", function (e) { e.preventDefault(); dropEl.style.display = "flex"; });
  window.addEventListener("dragleave", function (e) { if (e.target === dropEl) dropEl.style.display = "none"; });
  window.addEventListener("drop", function (e) {
    e.preventDefault();
    dropEl.style.display = "none";
    if (e.dataTransfer.files.length) sendFile(e.dataTransfer.files[0]);
  });

  if (!micAvailable) {
    talkEl.title = MIC_NEEDS_SECURE_PAGE;
    document.getElementById("hint").textContent = MIC_NEEDS_SECURE_PAGE;
  }

  // ---- start -------------------------------------------------------------------------------
  if (!state.threeLoaded) {
    showProblem("three.js is missing: the server found no three.min.js to serve at /three/. " +
      "Install the Debian package libjs-three (it provides /usr/share/javascript/three/) and reload.");
  } else {
    buildScene();
    render();
  }
  describe();
  connect();
})();
