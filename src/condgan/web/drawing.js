// The drawing pad of the Translate tab (a gr.HTML component; `element`, `props` and `trigger` come from Gradio).
// It draws on first touch (mouse, pen or finger), keeps the drawing as a list of strokes (so Undo removes the
// last one), and sends the canvas as a PNG data URL in props.value: shortly after the pen pauses while drawing
// and right after it lifts, never more than one request in flight per pause (the event is 'always_last').
const canvas = element.querySelector("canvas.cg-canvas");
const context = canvas.getContext("2d");
const size = canvas.width;
const examples = props.examples || [];
let strokes = []; // [{width, points: [[x, y], ...]}] in canvas pixels
let current = null;
let width = props.widths[1];
let timer = null;
let sent = "";

function redraw() {
  context.fillStyle = "#ffffff";
  context.fillRect(0, 0, size, size);
  context.strokeStyle = "#000000";
  context.lineCap = "round";
  context.lineJoin = "round";
  for (const stroke of strokes) {
    const [first, ...rest] = stroke.points;
    context.lineWidth = stroke.width;
    context.beginPath();
    context.moveTo(first[0], first[1]);
    for (const point of rest) context.lineTo(point[0], point[1]);
    if (!rest.length) context.lineTo(first[0] + 0.01, first[1]); // a tap leaves a dot
    context.stroke();
  }
  element.querySelector(".cg-hint").style.visibility = strokes.length ? "hidden" : "visible";
}

function send() {
  clearTimeout(timer);
  const value = strokes.length ? canvas.toDataURL("image/png") : "";
  if (value === sent) return;
  sent = value;
  props.value = value;
  trigger("change");
}

function later(ms) {
  clearTimeout(timer);
  timer = setTimeout(send, ms);
}

function at(event) {
  const box = canvas.getBoundingClientRect();
  return [((event.clientX - box.left) * size) / box.width, ((event.clientY - box.top) * size) / box.height];
}

canvas.addEventListener("pointerdown", (event) => {
  if (event.button !== 0) return;
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  current = { width, points: [at(event)] };
  strokes.push(current);
  redraw();
});
canvas.addEventListener("pointermove", (event) => {
  if (!current) return;
  current.points.push(at(event));
  redraw();
  later(props.debounce_ms);
});
const lift = () => {
  if (!current) return;
  current = null;
  later(30);
};
canvas.addEventListener("pointerup", lift);
canvas.addEventListener("pointercancel", lift);

function undo() {
  strokes.pop();
  redraw();
  send();
}
function clear() {
  strokes = [];
  redraw();
  send();
}
element.querySelector(".cg-undo").addEventListener("click", undo);
element.querySelector(".cg-clear").addEventListener("click", clear);
element.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "z") {
    event.preventDefault();
    undo();
  }
});
for (const button of element.querySelectorAll(".cg-width")) {
  button.addEventListener("click", () => {
    width = Number(button.dataset.width);
    for (const other of element.querySelectorAll(".cg-width")) other.classList.toggle("cg-on", other === button);
  });
}
for (const button of element.querySelectorAll(".cg-example")) {
  button.addEventListener("click", () => {
    const example = examples[Number(button.dataset.index)];
    strokes = example.strokes.map((stroke) => ({ width: stroke.width, points: stroke.points.map((p) => [...p]) }));
    redraw();
    send();
  });
}
redraw();
