/**
 * The web chat's image attachments, a part of its script (webchat-script.ts inlines it inside its
 * closure, where `attachments`, `pendingEl`, `fileIn`, `text`, `note`, `thumbs`, `IMAGE_TYPES` and
 * `MAX_IMAGE_BYTES` are defined): the Image button's file picker and paste into the message box;
 * png, jpeg, gif and webp up to 5 MB each (anything else gets a note); thumbnails (blob: URLs, the
 * only images the page's CSP allows) with a remove button until the message is sent.
 */
export const WEBCHAT_ATTACH_SCRIPT = `  // ---- attachments: the picker and paste; shown as thumbnails until sent ----
  function readBase64(file) {
    return new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ""));
      r.onerror = () => reject(r.error);
      r.readAsDataURL(file);
    });
  }
  function showPending() {
    pendingEl.textContent = "";
    pendingEl.hidden = attachments.length === 0;
    attachments.forEach((a, i) => {
      const d = document.createElement("span");
      d.className = "pending";
      thumbs(d, [a.url]);
      const x = document.createElement("button");
      x.type = "button";
      x.textContent = "×";
      x.title = "remove " + a.fileName;
      x.addEventListener("click", () => {
        attachments.splice(i, 1);
        showPending();
      });
      d.append(x);
      pendingEl.append(d);
    });
  }
  function addFiles(files) {
    for (const f of files) {
      if (IMAGE_TYPES.indexOf(f.type) < 0) note("not attached: " + (f.name || "file") + " is not a png, jpeg, gif or webp image");
      else if (f.size > MAX_IMAGE_BYTES) note("not attached: " + (f.name || "image") + " is larger than 5 MB");
      else attachments.push({ url: URL.createObjectURL(f), mimeType: f.type, fileName: f.name || "pasted-image", content: readBase64(f) });
    }
    showPending();
  }
  $("attach").addEventListener("click", () => fileIn.click());
  fileIn.addEventListener("change", () => {
    addFiles(Array.from(fileIn.files || []));
    fileIn.value = "";
  });
  text.addEventListener("paste", (ev) => {
    const items = (ev.clipboardData && ev.clipboardData.items) || [];
    const files = Array.from(items).filter((i) => i.kind === "file").map((i) => i.getAsFile()).filter(Boolean);
    if (files.length === 0) return;
    ev.preventDefault();
    addFiles(files);
  });

`;
