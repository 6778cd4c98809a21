// The iframe page (widget.html?prompt=…&seed=…): for platforms that strip
// script tags from posts. Its address's settings become the element's
// attributes; nothing else is read from it.

const settings = ['prompt', 'seed', 'steps', 'show', 'model', 'size', 'controls', 'poster', 'loading'];
const image = document.getElementById('image');
const address = new URLSearchParams(location.search);
for (const name of settings) {
  const value = address.get(name);
  if (value !== null) image.setAttribute(name, value);
}
if (address.has('prompt')) document.title = `Sculpt: ${address.get('prompt')}`;
