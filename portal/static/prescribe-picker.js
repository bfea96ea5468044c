// The prescribing form's drug picker: the search box filters the list as the doctor types (the form also
// works without this: the search submits and the server filters), choosing a drug selects its dose
// unit and shows its geriatric dose as a hint.

const UCUM = { mg: "mg", g: "g", ug: "ug", ng: "ng", IU: "[iU]", mL: "mL", puff: "{puff}" };

const select = document.getElementById("rx-drug");
const search = document.querySelector("[data-filter=rx-drug]");
const hint = document.querySelector("[data-field=hint]");
const unit = document.querySelector("select[name=unit]");

function filter() {
  const needle = search.value.trim().toLowerCase();
  for (const option of select.options) {
    option.hidden = needle !== "" && !option.textContent.toLowerCase().includes(needle) && !option.selected;
  }
}

function chosen() {
  const option = select.selectedOptions[0];
  if (!option) {
    hint.textContent = "";
    return;
  }
  const code = UCUM[option.dataset.unit];
  if (code && unit && [...unit.options].some((o) => o.value === code)) unit.value = code;
  hint.textContent = option.dataset.hint ? `${hint.dataset.label} ${option.dataset.hint}` : "";
}

if (select && search) {
  search.addEventListener("input", filter);
  // Enter in the search box filters here rather than reloading the page.
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      filter();
    }
  });
}
if (select) {
  select.addEventListener("change", chosen);
  if (select.selectedOptions[0] && hint) {
    hint.textContent = select.selectedOptions[0].dataset.hint
      ? `${hint.dataset.label} ${select.selectedOptions[0].dataset.hint}`
      : "";
  }
}
