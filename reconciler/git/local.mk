# (empty until this part is built)
